import { isAppError } from '@hearth/errors';
import type { Host } from '../../domain/host.js';
import type { HostId } from '../../domain/ids.js';
import { heldInventoryOf, type HeldInventory } from './held-inventory.js';
import type { ReconcilerDependencies } from './reconciler-dependencies.js';
import { heldInventoryCurrentAt, type HeldInventoryTag } from './reported-inventory.js';
import { SharedValues } from './shared-values.js';

/** An inventory read and when it was asked for (ms since the epoch, on the reconciler's clock). */
export interface InventoryRead {
  readonly at: number;
  readonly read: Promise<HeldInventory | undefined>;
}

/**
 * Each host's last inventory read, shared by the VMs of the host for `maxAgeMs`, so a pass over
 * many VMs asks each Agent once. A read that fails answers undefined (and is logged): nothing is
 * then done on that host.
 *
 * Every read names the inventory last answered (its tag): an Agent whose inventory is still that
 * one says so (304) and the one held is answered again, the same object, unparsed. What an Agent
 * answered is held, with its tag, until the host is forgotten, across terms of leadership: a
 * follower holds inventories too (`readToHold`, ADR 0107), and a resync takes one only when the
 * host's last heartbeat names its tag (`forResync`), whoever read it. The reads themselves, which
 * a reconcile of a VM may reuse (`heldSince`), are dropped at each change of term.
 */
export class InventoryCache {
  private readonly reads = new Map<HostId, InventoryRead>();
  private readonly known = new Map<HostId, HeldInventoryTag & { readonly inventory: HeldInventory }>();
  private readonly shared = new SharedValues();

  /**
   * @param maxReportAgeMs How old the inventory a resync takes unread may be (see `forResync`).
   */
  constructor(
    private readonly deps: Pick<ReconcilerDependencies, 'agents' | 'clock' | 'log'>,
    private readonly maxAgeMs: number,
    private readonly maxReportAgeMs: number,
  ) {}

  /**
   * The host's inventory for a resync: the one held, not read again, when the host's last heartbeat
   * says its Agent's inventory still has that one's tag (see `heldInventoryCurrentAt`); else a read
   * as `readOf(host, false)` makes. A held one is answered with the time it is known current at,
   * and is not kept as a read: a reconcile of the host or of one of its VMs reads the Agent.
   */
  forResync(host: Host): InventoryRead & { readonly isHeld: boolean } {
    const held = this.heldCurrent(host);
    if (held === undefined) return { ...this.readOf(host, false), isHeld: false };
    this.known.set(host.id, held);
    return { at: held.currentAtMs, read: Promise.resolve(held.inventory), isHeld: true };
  }

  /**
   * The inventory held for the host, with the time it is known current at, when the host's last
   * heartbeat names its tag (see `heldInventoryCurrentAt`): what a resync would take unread now.
   * Reads nothing and changes nothing.
   */
  heldCurrent(host: Host): (HeldInventoryTag & { readonly inventory: HeldInventory }) | undefined {
    const known = this.known.get(host.id);
    const currentAtMs = heldInventoryCurrentAt(
      host.reportedInventory,
      known,
      this.deps.clock.now().getTime(),
      this.maxReportAgeMs,
    );
    return known === undefined || currentAtMs === undefined ? undefined : { ...known, currentAtMs };
  }

  /** The host's inventory, read at most `maxAgeMs` ago; undefined when the Agent cannot answer. */
  of(host: Host): Promise<HeldInventory | undefined> {
    return this.readOf(host, false).read;
  }

  /** The host's inventory read and when it was asked for: a cached one unless `isFresh`. */
  readOf(host: Host, isFresh: boolean): InventoryRead {
    const nowMs = this.deps.clock.now().getTime();
    const cached = this.reads.get(host.id);
    if (!isFresh && cached !== undefined && nowMs - cached.at < this.maxAgeMs) return cached;
    const started: InventoryRead = { at: nowMs, read: this.ask(host, nowMs) };
    this.reads.set(host.id, started);
    return started;
  }

  /**
   * A follower's read of the host's inventory (ADR 0107): held as the leader's reads are, with its
   * tag and the time it was asked for, but not kept as a read, so nothing that acts on a host acts
   * on it; a resync takes it only as `forResync` takes any held inventory.
   */
  readToHold(host: Host): Promise<HeldInventory | undefined> {
    return this.ask(host, this.deps.clock.now().getTime());
  }

  /** The tag of the inventory held for the host, if any. */
  heldTagOf(hostId: HostId): string | undefined {
    return this.known.get(hostId)?.tag;
  }

  /** A conditional read of the host's inventory asked for at `nowMs`; what it answers is held with its tag. */
  private ask(host: Host, nowMs: number): Promise<HeldInventory | undefined> {
    const known = this.known.get(host.id);
    // Without each VM's resource list: what the reconciler compares is in the rest.
    return this.deps.agents
      .inventoryIfChanged(host, known?.tag, { resources: 'none' })
      .then((answer) => {
        // Only a read that named a tag can be answered `unchanged`.
        if (answer.kind === 'unchanged') {
          if (known !== undefined) this.known.set(host.id, { ...known, currentAtMs: Math.max(known.currentAtMs, nowMs) });
          return known?.inventory;
        }
        const inventory = heldInventoryOf(answer.inventory, this.shared);
        if (answer.tag === undefined) this.known.delete(host.id);
        else this.known.set(host.id, { tag: answer.tag, inventory, currentAtMs: nowMs });
        return inventory;
      })
      .catch((error: unknown) => {
        this.deps.log.warn({ hostId: host.id, code: isAppError(error) ? error.code : 'INTERNAL' }, 'host inventory unreadable');
        return undefined;
      });
  }

  /**
   * The host's inventory read, if one asked for at or after `sinceMs` (and at most `maxAgeMs` ago)
   * is held; none is started.
   */
  heldSince(host: Host, sinceMs: number): InventoryRead | undefined {
    const cached = this.reads.get(host.id);
    if (cached === undefined || cached.at < sinceMs) return undefined;
    return this.deps.clock.now().getTime() - cached.at < this.maxAgeMs ? cached : undefined;
  }

  /**
   * Forgets the reads made so far, so each host is asked again (keeping what it last answered): at
   * each pass, and at each change of term, so no read of another term feeds a reconcile.
   */
  expireReads(): void {
    this.reads.clear();
  }

  /** Forgets the host: its next read asks for its whole inventory. */
  forget(hostId: HostId): void {
    this.reads.delete(hostId);
    this.known.delete(hostId);
  }
}
