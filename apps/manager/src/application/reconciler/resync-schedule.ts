import type { HostStatus } from '../../domain/host.js';
import type { HostId, VmId } from '../../domain/ids.js';
import type { HeldInventory } from './held-inventory.js';
import type { RowsRefresh } from './resync-rows.js';

/** What a resync compares a host's VMs against: its status, and the inventory used (healthy hosts only). */
export interface HostBasis {
  readonly hostId: HostId;
  readonly status: HostStatus;
  /** The very object the inventory cache answered: a 304 answers the same one again. */
  readonly inventory: HeldInventory | undefined;
}

/**
 * Which VMs a comparison between full ones compares again: those whose rows were read since, the
 * VMs of a host whose status or inventory changed since the last comparison, VMs whose decision may
 * change with time (`reconsiderAt`: a grace ending, a retry coming due) once that time has come,
 * and VMs the last comparison found needing work (so one whose reconcile changed nothing is looked
 * at again, and one a follower found is queued by the first pass of its term).
 *
 * It is whole when its last comparison ran to its end, from a whole one (a full comparison, or one
 * that started whole): every VM held is then either off the schedule because its decision needs
 * nothing until its record, its host's basis or its time changes, or on it. A comparison cut short
 * (leadership taken or lost midway) leaves it not whole, and the next comparison compares every VM.
 * The leader's passes and a follower's intervals keep the same schedule, across terms (ADR 0111).
 */
export class ResyncSchedule {
  private readonly bases = new Map<HostId, HostBasis>();
  private readonly dueAtMs = new Map<VmId, number>();
  private readonly queued = new Set<VmId>();
  /**
   * Counts what made the schedule not whole (a comparison started, every row read): a comparison
   * that finishes after another such event leaves it not whole.
   */
  private epoch = 0;
  private isWhole = false;

  /**
   * Rows were read and applied: the VMs of rows read since the last comparison are compared at the
   * next, whichever replica's role runs it; after every row was read, every VM is.
   */
  rowsRead({ isFull, read }: RowsRefresh): void {
    if (isFull) {
      this.isWhole = false;
      this.epoch += 1;
      return;
    }
    for (const view of read) this.queued.add(view.vm.id);
  }

  /**
   * Starts a comparison: answers whether the schedule is whole (else the comparison must compare every
   * VM) and the comparison's epoch, to say it finished with (`finished`). Until then it is not whole.
   */
  startComparing(): { readonly isWhole: boolean; readonly epoch: number } {
    const { isWhole } = this;
    this.isWhole = false;
    this.epoch += 1;
    return { isWhole, epoch: this.epoch };
  }

  /**
   * The comparison ran to its end, and was full or started whole: the schedule is whole, unless
   * another comparison started or every row was read since.
   */
  finished(epoch: number): void {
    if (epoch === this.epoch) this.isWhole = true;
  }

  /** Forgets every VM's schedule (a full comparison compares them all). */
  forgetVms(): void {
    this.dueAtMs.clear();
    this.queued.clear();
  }

  /** The hosts whose basis differs from the last comparison's (a host seen for the first time included); keeps the new ones. */
  changedHosts(bases: readonly HostBasis[]): HostId[] {
    const changed: HostId[] = [];
    const seen = new Set<HostId>();
    for (const basis of bases) {
      seen.add(basis.hostId);
      const before = this.bases.get(basis.hostId);
      if (before === undefined || before.status !== basis.status || before.inventory !== basis.inventory)
        changed.push(basis.hostId);
      this.bases.set(basis.hostId, basis);
    }
    for (const hostId of this.bases.keys()) if (!seen.has(hostId)) this.bases.delete(hostId);
    return changed;
  }

  /**
   * The VMs found needing work by the last comparison or read since, and those whose reconsider time
   * has come by `nowMs`; taken off the schedule.
   */
  takeDue(nowMs: number): VmId[] {
    const due = [...this.queued];
    this.queued.clear();
    for (const [vmId, atMs] of this.dueAtMs) {
      if (atMs > nowMs) continue;
      due.push(vmId);
      this.dueAtMs.delete(vmId);
    }
    return due;
  }

  /** Records one VM's outcome: needing work (look again next time), or to look again at `reconsiderAtMs`. */
  compared(vmId: VmId, outcome: { readonly needsWork: boolean; readonly reconsiderAtMs: number | undefined }): void {
    this.dueAtMs.delete(vmId);
    this.queued.delete(vmId);
    if (outcome.needsWork) this.queued.add(vmId);
    else if (outcome.reconsiderAtMs !== undefined) this.dueAtMs.set(vmId, outcome.reconsiderAtMs);
  }
}
