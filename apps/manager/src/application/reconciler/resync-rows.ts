import type { HostId, VmId } from '../../domain/ids.js';
import type { ReconcileStateRepository, ResyncWatermark, VmResyncView } from '../ports/reconcile-state-repository.js';
import { EventLoopSlices } from './event-loop-slices.js';

/** What one refresh of the rows read. */
export interface RowsRefresh {
  /** Every row was read (the first read of a term, or a periodic full read). */
  readonly isFull: boolean;
  /** The rows read (all of them when `isFull`). */
  readonly read: readonly VmResyncView[];
}

/**
 * The leading reconciler's view of every VM row between resyncs: read whole once, then brought up
 * to date with only the rows written and deleted since the previous read (see `readForResync`),
 * with a whole read again every `fullReadEvery` refreshes as a backstop. The orphan collector asks
 * it which VMs exist; the resync, which VMs a host holds. Only the resync reads it, and not while a
 * refresh applies what it read (resyncs run one at a time).
 */
export class ResyncRows {
  private readonly views = new Map<VmId, VmResyncView>();
  private readonly onHost = new Map<HostId, Set<VmId>>();
  private watermark: ResyncWatermark | undefined;
  private refreshesSinceFull = 0;
  /** Counts `clear()` calls: a read begun before one is not applied after it. */
  private generation = 0;

  constructor(
    private readonly reconcileStates: Pick<ReconcileStateRepository, 'readForResync' | 'forgetDeletionsBefore'>,
    private readonly fullReadEvery: number,
  ) {}

  /** Forgets everything: the next refresh reads every row (a new term of leadership). */
  clear(): void {
    this.generation += 1;
    this.views.clear();
    this.onHost.clear();
    this.watermark = undefined;
    this.refreshesSinceFull = 0;
  }

  /**
   * Reads what changed (or every row) and applies it, letting the event loop turn between slices
   * (`slices`): a whole read of 100,000 rows applied at once held the leader's loop for tens of ms.
   */
  async refresh(slices: EventLoopSlices = new EventLoopSlices()): Promise<RowsRefresh> {
    const isFull = this.watermark === undefined || this.refreshesSinceFull + 1 >= this.fullReadEvery;
    const generation = this.generation;
    const read = await this.reconcileStates.readForResync(isFull ? undefined : this.watermark);
    // Cleared meanwhile (leadership lost): a read of what changed since the old view must not seed the new one.
    if (generation !== this.generation) return { isFull, read: [] };
    slices.restart();
    if (isFull) {
      this.views.clear();
      this.onHost.clear();
      this.refreshesSinceFull = 0;
    } else {
      this.refreshesSinceFull += 1;
    }
    for (const view of read.views) {
      if ((await slices.turnIfDue()) && generation !== this.generation) return { isFull, read: [] };
      this.put(view);
    }
    for (const vmId of read.deletedIds) {
      if ((await slices.turnIfDue()) && generation !== this.generation) return { isFull, read: [] };
      this.remove(vmId);
    }
    this.watermark = read.watermark;
    // A whole read answered every deletion before its watermark: no later read asks for them.
    if (isFull) await this.reconcileStates.forgetDeletionsBefore(read.watermark);
    return { isFull, read: read.views };
  }

  get(vmId: VmId): VmResyncView['vm'] | undefined {
    return this.views.get(vmId)?.vm;
  }

  viewOf(vmId: VmId): VmResyncView | undefined {
    return this.views.get(vmId);
  }

  /** The VMs whose rows name the host. */
  vmsOn(hostId: HostId): ReadonlySet<VmId> {
    return this.onHost.get(hostId) ?? emptySet;
  }

  ids(): IterableIterator<VmId> {
    return this.views.keys();
  }

  get size(): number {
    return this.views.size;
  }

  private put(view: VmResyncView): void {
    const before = this.views.get(view.vm.id);
    if (before !== undefined && before.vm.hostId !== view.vm.hostId) this.onHost.get(before.vm.hostId)?.delete(view.vm.id);
    this.views.set(view.vm.id, view);
    let vms = this.onHost.get(view.vm.hostId);
    if (vms === undefined) {
      vms = new Set();
      this.onHost.set(view.vm.hostId, vms);
    }
    vms.add(view.vm.id);
  }

  private remove(vmId: VmId): void {
    const before = this.views.get(vmId);
    if (before === undefined) return;
    this.views.delete(vmId);
    const vms = this.onHost.get(before.vm.hostId);
    vms?.delete(vmId);
    if (vms?.size === 0) this.onHost.delete(before.vm.hostId);
  }
}

const emptySet: ReadonlySet<VmId> = new Set();
