import type { Host } from '../domain/host.js';
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
