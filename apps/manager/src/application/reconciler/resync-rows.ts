import type { HostId, VmId } from '../../domain/ids.js';
import type { RetryState } from '../../domain/reconcile-decision.js';
import type { ReconcileStateRepository, ResyncWatermark, VmResyncView } from '../ports/reconcile-state-repository.js';
import { EventLoopSlices } from './event-loop-slices.js';
import { SharedValues } from './shared-values.js';

/** What one refresh of the rows read. */
export interface RowsRefresh {
  /** Every row was read (nothing held yet, a periodic whole read, or a check that found a row held in excess). */
  readonly isFull: boolean;
  /** The rows read (all of them when `isFull`). */
  readonly read: readonly VmResyncView[];
}

/** How a refresh reads: every row, what changed, or what changed with the rows counted in its snapshot. */
type RowsReadKind = 'whole' | 'changes' | 'checked';

/**
 * A reconciler's view of every VM row between resyncs: read whole once, then brought up to date
 * with only the rows written and deleted since the previous read (see `readForResync`). The orphan
 * collector asks it which VMs exist; the resync, which VMs a host holds.
 *
 * The leader refreshes it each pass (`refresh`) and reads every row again every `fullReadEvery`
 * refreshes as a backstop, then forgets the deletions that whole read made useless. A follower
 * refreshes it each interval too (`follow`), so that the first pass of its term reads only what
 * changed (ADR 0107); it never writes, so it forgets no deletion, and it reads every row only when
 * it holds none or a check finds it holds too many. What it holds is database state tracked by
 * watermark, good whoever leads: it is kept across terms of leadership.
 *
 * A check: another replica's whole read forgets the deletions its watermark sees, and a reader
 * whose watermark is older never reads those. Writes are never missed (each row carries its
 * writer), so such a reader holds every row and a few deleted ones too: a read of what changed,
 * counted in the same snapshot (`isCounted`), finds that out, and the rows are then read whole.
 * The first refresh of a term and every `fullReadEvery`-th of a follower are checked.
 *
 * Refreshes run one after another (a second waits for the first), and only the resync reads the
 * views, not while a refresh applies what it read.
 */
export class ResyncRows {
  private views = new Map<VmId, VmResyncView>();
  private readonly onHost = new Map<HostId, Set<VmId>>();
  /** Per host, how many views have left it (deleted, gone from a whole read, or moved to another host). */
  private readonly departures = new Map<HostId, number>();
  /** What most views have in common, held once (ADR 0091). */
  private readonly shared = new SharedValues();
  private watermark: ResyncWatermark | undefined;
  private refreshesSinceFull = 0;
  /** The refresh under way, if any: the next one starts after it. */
  private running: Promise<unknown> = Promise.resolve();

  /**
   * @param applied Told of every read as soon as it is applied (the views and the watermark moved),
   *   before anything else may fail or refresh: whoever compares the rows learns of every row read,
   *   even one whose refresh's caller never compares it (leadership changed meanwhile).
   */
  constructor(
    private readonly reconcileStates: Pick<ReconcileStateRepository, 'readForResync' | 'forgetDeletionsBefore'>,
    private readonly fullReadEvery: number,
    private readonly applied: (refresh: RowsRefresh) => void = () => undefined,
  ) {}

  /**
   * The leader's refresh: reads what changed (or every row: nothing held, or every `fullReadEvery`-th)
   * and applies it, letting the event loop turn between slices (`slices`): a whole read of 100,000
   * rows applied at once held the leader's loop for tens of ms. `isChecked` (the first pass of a
   * term): what changed, counted, so rows held since another replica forgot their deletion are found.
   */
  refresh(slices: EventLoopSlices = new EventLoopSlices(), options: { readonly isChecked?: boolean } = {}): Promise<RowsRefresh> {
    return this.serially(() => {
      const isDue = this.refreshesSinceFull + 1 >= this.fullReadEvery;
      const kind: RowsReadKind =
        this.watermark === undefined ? 'whole' : options.isChecked === true ? 'checked' : isDue ? 'whole' : 'changes';
      return this.apply(kind, slices, true);
    });
  }

  /**
   * A follower's refresh (ADR 0107): what changed since the last one, checked every `fullReadEvery`-th
   * time; every row when it holds none or the check fails. Writes nothing.
   */
  follow(slices: EventLoopSlices = new EventLoopSlices()): Promise<RowsRefresh> {
    return this.serially(() => {
      const kind: RowsReadKind =
        this.watermark === undefined ? 'whole' : this.refreshesSinceFull + 1 >= this.fullReadEvery ? 'checked' : 'changes';
      return this.apply(kind, slices, false);
    });
  }

  private serially(refresh: () => Promise<RowsRefresh>): Promise<RowsRefresh> {
    const next = this.running.then(refresh);
    this.running = next.catch(() => undefined);
    return next;
  }

  /** Reads as `kind` says and applies it; `isLeading`: a whole read forgets the deletions it made useless. */
  private async apply(kind: RowsReadKind, slices: EventLoopSlices, isLeading: boolean): Promise<RowsRefresh> {
    const isFull = kind === 'whole';
    const read = await this.reconcileStates.readForResync(isFull ? undefined : this.watermark, { isCounted: kind === 'checked' });
    slices.restart();
    // A whole read keeps each view held whose row it answers unchanged (see `put`), and drops those
    // whose rows it does not answer.
    const previous = this.views;
    if (isFull) this.views = new Map();
    for (const view of read.views) {
      await slices.turnIfDue();
      this.put(view, previous.get(view.vm.id));
      if (isFull) previous.delete(view.vm.id);
    }
    if (isFull) {
      for (const gone of previous.values()) {
        await slices.turnIfDue();
        this.leaveHost(gone);
      }
    }
    for (const vmId of read.deletedIds) {
      await slices.turnIfDue();
      this.remove(vmId);
    }
    this.watermark = read.watermark;
    this.applied({ isFull, read: read.views });
    if (kind === 'checked' && read.rowCount !== this.views.size) {
      // Rows held whose deletion was forgotten before this reader read it: read them all.
      return this.apply('whole', slices, isLeading);
    }
    // A follower's check stands for its whole read; the leader still reads whole every `fullReadEvery`.
    this.refreshesSinceFull = isFull || (kind === 'checked' && !isLeading) ? 0 : this.refreshesSinceFull + 1;
    // A whole read answered every deletion before its watermark: no later read of the leader asks for them.
    if (isFull && isLeading) await this.reconcileStates.forgetDeletionsBefore(read.watermark);
    return { isFull, read: read.views };
  }

  get(vmId: VmId): VmResyncView['vm'] | undefined {
    return this.views.get(vmId)?.vm;
  }

  viewOf(vmId: VmId): VmResyncView | undefined {
    return this.views.get(vmId);
  }

  /**
   * How many views have left the host so far (a count that only grows): while it stays the same, every
   * VM found held for the host is still held so, or held for it since.
   */
  departuresFrom(hostId: HostId): number {
    return this.departures.get(hostId) ?? 0;
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
    if (before !== undefined && before.vm.hostId !== view.vm.hostId) this.leaveHost(before);
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
    this.departures.set(vm.hostId, this.departuresFrom(vm.hostId) + 1);
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
