import type { SnapshotId } from '../../domain/ids.js';
import { snapshotNotReady, type Snapshot } from '../../domain/snapshot.js';
import { invalidBody } from '../../domain/template.js';
import type { Vm } from '../../domain/vm.js';
import type { UseCaseDependencies } from '../dependencies.js';

/**
 * A ready snapshot of `project` named in a request's `snapshotId`, and the VM it was taken of,
 * whose images, size and boot arguments what is made from it takes. Another project's snapshot is,
 * to it, no snapshot at all; so is one whose VM is gone: a VM's snapshots go with it, and a delete
 * of the VM that ran between the two reads has taken the snapshot too.
 */
export async function readySnapshotAndVm(
  deps: Pick<UseCaseDependencies, 'snapshots' | 'vms'>,
  snapshotId: SnapshotId,
  project: string,
  what: string,
): Promise<{ readonly snapshot: Snapshot; readonly source: Vm }> {
  const noSnapshot = invalidBody([{ field: 'body/snapshotId', message: `no snapshot with id ${snapshotId}` }]);
  const snapshot = await deps.snapshots.findById(snapshotId);
  if (snapshot === undefined || snapshot.project !== project) throw noSnapshot;
  if (snapshot.state !== 'ready') throw snapshotNotReady(snapshot, what);
  const source = await deps.vms.findById(snapshot.vmId);
  if (source === undefined) throw noSnapshot;
  return { snapshot, source };
}
