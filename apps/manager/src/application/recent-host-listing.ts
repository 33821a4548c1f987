import type { Host } from '../domain/host.js';
import type { HostStanding, RejectionReason } from '../domain/placement.js';
import type { Clock } from './ports/clock.js';
import type { HostRepository } from './ports/host-repository.js';

/**
 * How old a shared listing may be: a quarter of the heartbeat interval, at most a second. A host's
 * liveness is judged from its last heartbeat, which the listing may miss by this much at most.
 */
export function sharedListingMaxAgeMs(heartbeatIntervalMs: number): number {
  return Math.min(1_000, Math.floor(heartbeatIntervalMs / 4));
}

/**
 * Every host, as a placement reads them, shared by the creates of one moment: a listing begun at
 * most `maxAgeMs` ago (still under way, or answered) is answered again rather than read anew. Each
 * create read every host, which at a thousand hosts cost more of the Manager's CPU than the rest of
 * the create. What a listing may have missed since it began (a cordon, a host marked unhealthy or
 * removed) is read again where it matters, when the VM is admitted on its host with the host locked
 * (`Admit`'s standing), and a placement refused that way places again from a listing of its own.
 * A listing that failed is not kept.
 */
export class RecentHostListing {
  private current: { readonly startedAtMs: number; readonly hosts: Promise<readonly Host[]> } | undefined;

  constructor(
    private readonly hosts: Pick<HostRepository, 'list'>,
    private readonly clock: Clock,
    private readonly maxAgeMs: number,
  ) {}

  list(): Promise<readonly Host[]> {
    const nowMs = this.clock.now().getTime();
    const current = this.current;
    if (current !== undefined && nowMs - current.startedAtMs <= this.maxAgeMs && nowMs >= current.startedAtMs) {
      return current.hosts;
    }
    const listing = { startedAtMs: nowMs, hosts: this.hosts.list() };
    this.current = listing;
    listing.hosts.catch(() => {
      if (this.current === listing) this.current = undefined;
    });
    return listing.hosts;
  }
}

/** The hosts a placement chooses among, and the judgement of its choice when it is admitted. */
export class ListedHosts {
  private hasChangedSinceListing = false;

  constructor(
    readonly hosts: readonly Host[],
    private readonly isShared: boolean,
  ) {}

  /**
   * Why `chosen` cannot take what is admitted on it, judged (`reasonOf`) on the host as committed
   * now, `standing` as the admission read it with the host locked: a cordon or an unhealthy mark
   * since the listing counts. A host gone since a listing of its own is left to the insert (its row
   * is referenced); gone since a shared one, it is unhealthy. A host cordoned or marked unhealthy
   * since a shared listing began marks the placement for another try (`placeOnListedHosts`).
   */
  admission(
    chosen: Host,
    standing: HostStanding | null,
    reasonOf: (current: Host) => RejectionReason | undefined,
  ): RejectionReason | undefined {
    const reason =
      standing === null && this.isShared ? 'unhealthy' : reasonOf(standing === null ? chosen : { ...chosen, ...standing });
    this.hasChangedSinceListing = this.isShared && (reason === 'cordoned' || reason === 'unhealthy');
    return reason;
  }

  /** Whether the placement's refusal came from a change the shared listing could not see. */
  get mayPlaceAgain(): boolean {
    return this.hasChangedSinceListing;
  }
}

/**
 * Runs a placement (`place`) on the hosts of the listing shared with the placements of the moment,
 * when the Manager keeps one; a placement refused because its host was cordoned or marked unhealthy
 * after that listing began runs once more on a listing of its own, which sees the change (that
 * refusal answers nobody). Without a shared listing, on a listing of its own.
 */
export async function placeOnListedHosts<T>(
  deps: { readonly hosts: Pick<HostRepository, 'list'>; readonly recentHosts?: RecentHostListing | undefined },
  place: (listed: ListedHosts) => Promise<T>,
): Promise<T> {
  if (deps.recentHosts !== undefined) {
    const shared = new ListedHosts(await deps.recentHosts.list(), true);
    try {
      return await place(shared);
    } catch (error) {
      if (!shared.mayPlaceAgain) throw error;
    }
  }
  return place(new ListedHosts(await deps.hosts.list(), false));
}
