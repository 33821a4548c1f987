import { AppError } from '@hearth/errors';
import type { SnapshotId, VmId } from './ids.js';
import { snapshotInTemplate, type SnapshotHolders } from './snapshot.js';

/** One ready snapshot of the VM being deleted and what holds it, read under the snapshot's row lock. */
export interface HeldSnapshot {
  readonly snapshotId: SnapshotId;
  readonly holders: SnapshotHolders;
}

/**
 * Why the VM cannot be deleted now, undefined when it can: SNAPSHOT_IN_USE while another VM still
 * needs one of its ready snapshots (a clone or restore still to load it, or a running VMM that maps
 * its memory file), SNAPSHOT_IN_TEMPLATE while a template carries one. A snapshot's files are in its
 * VM's directory on its host and go with the VM, so the VM is kept until nothing else needs them.
 * The VM's own needs do not count (its restore in place, its VMM mapping the snapshot it was restored
 * from, a merge of its own diffs): they go with it.
 */
export function whyVmNotDeletable(vmId: VmId, snapshots: readonly HeldSnapshot[]): AppError | undefined {
  for (const { snapshotId, holders } of snapshots) {
    const others = holders.vmIds.filter((id) => id !== vmId);
    if (others.length > 0) {
      return new AppError(
        'SNAPSHOT_IN_USE',
        `VM ${vmId} holds snapshot ${snapshotId}, still needed by ${others.length} other VM(s): restored from it and not stopped since, or still to be restored`,
        { details: { vmId, snapshotId, vmIds: others } },
      );
    }
  }
  const carried = snapshots.find(({ holders }) => holders.templateIds.length > 0);
  return carried === undefined ? undefined : snapshotInTemplate(carried.snapshotId, carried.holders.templateIds);
}

/** A clone or restore of a snapshot whose VM is being deleted: the snapshot goes with it. */
export function snapshotGoingWithItsVm(snapshotId: SnapshotId): AppError {
  return new AppError('SNAPSHOT_NOT_READY', `Snapshot ${snapshotId} is being deleted with its VM`, {
    details: { snapshotId, state: 'deleting' },
  });
}
