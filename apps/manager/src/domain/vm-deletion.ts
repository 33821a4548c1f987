import { AppError } from '@hearth/errors';
import type { SnapshotId, TemplateId, VmId } from './ids.js';
import { snapshotInTemplate } from './snapshot.js';

/** What still needs one ready snapshot of a VM, read under the snapshot's row lock. */
export interface VmSnapshotNeeds {
  readonly snapshotId: SnapshotId;
  /** Other VMs whose next start restores it (clones that have not run, restores in place not done). */
  readonly awaitingVmIds: readonly VmId[];
  readonly templateIds: readonly TemplateId[];
}

/**
 * Why the VM cannot be deleted now, undefined when it can: SNAPSHOT_IN_USE while another VM still
 * has to be restored from one of its ready snapshots, SNAPSHOT_IN_TEMPLATE while a template carries
 * one. A snapshot's files are in its VM's directory on its host and go with the VM, so the VM is
 * kept until nothing needs them. The VM's own restore in place does not count: it goes with the VM.
 */
export function whyVmNotDeletable(vmId: VmId, needs: readonly VmSnapshotNeeds[]): AppError | undefined {
  for (const need of needs) {
    const awaiting = need.awaitingVmIds.filter((id) => id !== vmId);
    if (awaiting.length > 0) {
      return new AppError(
        'SNAPSHOT_IN_USE',
        `VM ${vmId} holds snapshot ${need.snapshotId}, still to be restored by ${awaiting.length} VM(s)`,
        { details: { vmId, snapshotId: need.snapshotId, vmIds: awaiting } },
      );
    }
  }
  const carried = needs.find((need) => need.templateIds.length > 0);
  return carried === undefined ? undefined : snapshotInTemplate(carried.snapshotId, carried.templateIds);
}

/** A clone or restore of a snapshot whose VM is being deleted: the snapshot goes with it. */
export function snapshotGoingWithItsVm(snapshotId: SnapshotId): AppError {
  return new AppError('SNAPSHOT_NOT_READY', `Snapshot ${snapshotId} is being deleted with its VM`, {
    details: { snapshotId, state: 'deleting' },
  });
}
