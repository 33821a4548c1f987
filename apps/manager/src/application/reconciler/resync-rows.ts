import type { HostId, VmId } from '../../domain/ids.js';
import type { RetryState } from '../../domain/reconcile-decision.js';
import type { ReconcileStateRepository, ResyncWatermark, VmResyncView } from '../ports/reconcile-state-repository.js';
import { EventLoopSlices } from './event-loop-slices.js';
import { SharedValues } from './shared-values.js';

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
  private views = new Map<VmId, VmResyncView>();
  private readonly onHost = new Map<HostId, Set<VmId>>();
  /** What most views have in common, held once (ADR 0091). */
  private readonly shared = new SharedValues();
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
    this.shared.clear();
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
    // A whole read keeps each view held whose row it answers unchanged (see `put`), and drops those
    // whose rows it does not answer.
    const previous = this.views;
    if (isFull) {
      this.views = new Map();
      this.refreshesSinceFull = 0;
    } else {
      this.refreshesSinceFull += 1;
    }
    for (const view of read.views) {
      if ((await slices.turnIfDue()) && generation !== this.generation) return { isFull, read: [] };
      this.put(view, previous.get(view.vm.id));
      if (isFull) previous.delete(view.vm.id);
    }
    if (isFull) {
      for (const gone of previous.values()) {
        if ((await slices.turnIfDue()) && generation !== this.generation) return { isFull, read: [] };
        this.leaveHost(gone);
      }
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

  /**
   * Holds the row's view in place of `before` (the one held so far), or keeps `before` when the row
   * has not changed: a whole read then leaves the old generation as it was, instead of making
   * 100,000 views garbage for its next mark-compact (ADR 0091).
   */
  private put(read: VmResyncView, before: VmResyncView | undefined): void {
    const held = this.heldViewOf(read);
    const view = before !== undefined && isSameView(before, held) ? before : held;
    if (before !== undefined && before.vm.hostId !== view.vm.hostId) this.onHost.get(before.vm.hostId)?.delete(view.vm.id);
    this.views.set(view.vm.id, view);
    let vms = this.onHost.get(view.vm.hostId);
    if (vms === undefined) {
      vms = new Set();
      this.onHost.set(view.vm.hostId, vms);
    }
    vms.add(view.vm.id);
  }

  /** The view as held: its host's id, its states and its common values shared with the other views. */
  private heldViewOf({ vm, retry }: VmResyncView): VmResyncView {
    const shared = this.shared;
    return {
      vm: {
        id: vm.id,
        hostId: shared.string(vm.hostId),
        state: shared.string(vm.state),
        updatedAt: vm.updatedAt,
        observedState: shared.string(vm.observedState),
        egress: shared.egressPolicy(vm.egress),
        rateLimits: shared.rateLimits(vm.rateLimits),
      },
      retry: shared.retry(retry),
    };
  }

  private remove(vmId: VmId): void {
    const before = this.views.get(vmId);
    if (before === undefined) return;
    this.views.delete(vmId);
    this.leaveHost(before);
  }

  private leaveHost({ vm }: VmResyncView): void {
    const vms = this.onHost.get(vm.hostId);
    vms?.delete(vm.id);
    if (vms?.size === 0) this.onHost.delete(vm.hostId);
  }
}

const emptySet: ReadonlySet<VmId> = new Set();

/** Whether two held views say the same; values not shared (a policy with rules) count as different. */
function isSameView(a: VmResyncView, b: VmResyncView): boolean {
  return (
    a.vm.hostId === b.vm.hostId &&
    a.vm.state === b.vm.state &&
    a.vm.observedState === b.vm.observedState &&
    a.vm.updatedAt.getTime() === b.vm.updatedAt.getTime() &&
    a.vm.egress === b.vm.egress &&
    a.vm.rateLimits === b.vm.rateLimits &&
    isSameRetry(a.retry, b.retry)
  );
}

function isSameRetry(a: RetryState, b: RetryState): boolean {
  return (
    a === b ||
    (a.restartPolicy === b.restartPolicy &&
      a.attempt === b.attempt &&
      a.nextAttemptAt?.getTime() === b.nextAttemptAt?.getTime() &&
      a.crashWindow.restarts === b.crashWindow.restarts &&
      a.crashWindow.startedAt?.getTime() === b.crashWindow.startedAt?.getTime())
  );
}
