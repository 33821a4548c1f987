import type { HostStatus } from '../../domain/host.js';
import type { HostId, VmId } from '../../domain/ids.js';
import type { HeldInventory } from './held-inventory.js';

/** What a resync compares a host's VMs against: its status, and the inventory used (healthy hosts only). */
export interface HostBasis {
  readonly hostId: HostId;
  readonly status: HostStatus;
  /** The very object the inventory cache answered: a 304 answers the same one again. */
  readonly inventory: HeldInventory | undefined;
}

/**
 * Which VMs a resync between full passes compares again, besides those whose rows changed: the
 * VMs of a host whose status or inventory changed since the last pass, VMs whose decision may
 * change with time (`reconsiderAt`: a grace ending, a retry coming due) once that time has come,
 * and VMs the last pass queued (so one whose reconcile changed nothing is looked at again).
 */
export class ResyncSchedule {
  private readonly bases = new Map<HostId, HostBasis>();
  private readonly dueAtMs = new Map<VmId, number>();
  private readonly queued = new Set<VmId>();

  clear(): void {
    this.bases.clear();
    this.forgetVms();
  }

  /** Forgets every VM's schedule (a full pass compares them all). */
  forgetVms(): void {
    this.dueAtMs.clear();
    this.queued.clear();
  }

  /** The hosts whose basis differs from the last pass's (a host seen for the first time included); keeps the new ones. */
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

  /** The VMs queued by the last pass, and those whose reconsider time has come by `nowMs`; taken off the schedule. */
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

  /** Records one comparison's outcome: queued (look again next pass), or to look again at `reconsiderAtMs`. */
  compared(vmId: VmId, outcome: { readonly isQueued: boolean; readonly reconsiderAtMs: number | undefined }): void {
    this.dueAtMs.delete(vmId);
    this.queued.delete(vmId);
    if (outcome.isQueued) this.queued.add(vmId);
    else if (outcome.reconsiderAtMs !== undefined) this.dueAtMs.set(vmId, outcome.reconsiderAtMs);
  }
}
