import type { Host } from '../../domain/host.js';
import type { HostId } from '../../domain/ids.js';
import type { HeldInventory } from './held-inventory.js';
import type { InventoryCache } from './inventory-cache.js';

/**
 * A follower's reads of the hosts' inventories (ADR 0107), so that the first pass of its term finds
 * each host's inventory held under the tag its last heartbeat reports, and reads none over TLS.
 *
 * Each interval (`plan`) it reads the healthy hosts whose last heartbeat reported a tag that is not
 * the tag held, nor one a read was already asked for: at rest, none. At most `budget` of them an
 * interval, `inFlight` at once, so that a follower that starts beside a leader's first pass (both
 * replicas restarted) spreads its 1,000 reads over a minute instead of adding them to the leader's
 * on the same cores. A read that fails is asked again at the next interval.
 */
export class FollowerInventoryReads {
  /** The reported tag a read was asked for, by host: the same report asks no second read. */
  private readonly askedFor = new Map<HostId, string>();
  private readonly reading = new Set<HostId>();
  private waiting: Host[] = [];
  private readonly settledWaiters: (() => void)[] = [];

  constructor(
    private readonly inventories: Pick<InventoryCache, 'readToHold' | 'heldTagOf'>,
    private readonly inFlight: number,
  ) {}

  /**
   * Plans this interval's reads among `hosts` (every host, as listed now), at most `budget`, in place
   * of those planned before and not started; answers how many it planned.
   */
  plan(hosts: readonly Host[], budget: number): number {
    const listed = new Set<HostId>();
    const due: Host[] = [];
    for (const host of hosts) {
      listed.add(host.id);
      const tag = host.reportedInventory?.tag;
      if (host.status !== 'healthy' || tag === undefined || this.reading.has(host.id)) continue;
      if (tag === this.inventories.heldTagOf(host.id) || tag === this.askedFor.get(host.id)) continue;
      due.push(host);
    }
    for (const hostId of this.askedFor.keys()) if (!listed.has(hostId)) this.askedFor.delete(hostId);
    this.waiting = due.slice(0, budget);
    const planned = this.waiting.length;
    this.startReads();
    return planned;
  }

  /** Starts no more reads (the follower leads now); those under way still hold what they answer. */
  stop(): void {
    this.waiting = [];
    this.settleIfIdle();
  }

  /** Resolves once no read is under way or waiting. */
  idle(): Promise<void> {
    if (this.reading.size === 0 && this.waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.settledWaiters.push(resolve));
  }

  private startReads(): void {
    while (this.reading.size < this.inFlight) {
      const host = this.waiting.shift();
      if (host === undefined) return;
      const tag = host.reportedInventory?.tag;
      if (tag !== undefined) this.askedFor.set(host.id, tag);
      this.reading.add(host.id);
      const done = (inventory: HeldInventory | undefined): void => {
        // Unread (the Agent did not answer): asked again at the next interval.
        if (inventory === undefined) this.askedFor.delete(host.id);
        this.reading.delete(host.id);
        this.startReads();
        this.settleIfIdle();
      };
      this.inventories.readToHold(host).then(done, () => done(undefined));
    }
  }

  private settleIfIdle(): void {
    if (this.reading.size === 0 && this.waiting.length === 0) for (const resolve of this.settledWaiters.splice(0)) resolve();
  }
}
