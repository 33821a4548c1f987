/** Shared by every VM with no snapshot asked for: the inventory reads each VM's every pass. */
const none: readonly string[] = [];

/**
 * The snapshots asked for and not answered yet, by VM. A request waits for its VM's lock (another
 * change of the VM may hold it for a while) before it records the snapshot `creating`; the
 * inventory reports these as `creating` meanwhile, so a Manager settling the host does not take a
 * snapshot its request still waits for as interrupted. Kept in memory only: a request does not
 * outlive the process that answers it.
 */
export class SnapshotsAsked {
  private readonly byVm = new Map<string, Map<string, number>>();

  /** Runs `work` with the snapshot counted as asked for, until it ends whatever its outcome. */
  async during<T>(vmId: string, snapshotId: string, work: () => Promise<T>): Promise<T> {
    const asked = this.byVm.get(vmId) ?? new Map<string, number>();
    this.byVm.set(vmId, asked);
    asked.set(snapshotId, (asked.get(snapshotId) ?? 0) + 1);
    try {
      return await work();
    } finally {
      const left = (asked.get(snapshotId) ?? 1) - 1;
      if (left > 0) asked.set(snapshotId, left);
      else asked.delete(snapshotId);
      if (asked.size === 0 && this.byVm.get(vmId) === asked) this.byVm.delete(vmId);
    }
  }

  /** The snapshots of the VM asked for and not answered yet. */
  of(vmId: string): readonly string[] {
    const asked = this.byVm.get(vmId);
    return asked === undefined ? none : [...asked.keys()];
  }
}
