import { failpoint } from '@hearth/failpoints';
import type { HostResource } from '@hearth/contracts';
import { isAppError } from '@hearth/errors';
import type { VmId } from '../../domain/ids.js';
import { assertTransition } from '../../domain/vm-state.js';
import type { UseCaseDependencies } from '../dependencies.js';
import { failureReasonOf } from './apply-vm.js';
import { hostOf } from './stop-vm.js';
import { versionToMatch, type MutationOptions } from './if-match.js';
import { getVm } from './vm-queries.js';
import { snapshotsOfVm } from './snapshots.js';
import { AppError } from '@hearth/errors';
import { everyProject } from '../../domain/access.js';
import { snapshotInTemplate } from '../../domain/snapshot.js';

type Deps = Pick<UseCaseDependencies, 'vms' | 'hosts' | 'snapshots' | 'templates' | 'agents' | 'clock' | 'log'>;

export interface DeletedVm {
  readonly id: VmId;
  /** The project it belonged to. */
  readonly project: string;
  /** What the Agent removed from the host (empty when it had nothing left). */
  readonly removed: readonly HostResource[];
}

/**
 * Deletes a VM: `deleting`, the Agent removes everything it made (an Agent that has no record of
 * the VM counts as done), then the row goes and its name is free again. When the Agent fails the
 * VM becomes `failed` with the reason, and DELETE can be retried.
 */
export async function deleteVm(deps: Deps, id: VmId, options: MutationOptions = {}): Promise<DeletedVm> {
  const vm = await getVm(deps, id, options.projects ?? everyProject);
  const ifVersion = versionToMatch(vm, options.ifMatch);
  assertTransition(vm.state, 'deleting');
  await assertSnapshotsUnused(deps, vm.id);
  const host = await hostOf(deps, vm.hostId);
  await deps.vms.transition(id, { from: vm.state, to: 'deleting', at: deps.clock.now(), ifVersion });
  failpoint('manager.delete.after-deleting');
  let removed: readonly HostResource[];
  try {
    removed = (await deps.agents.deleteVm(host, id)).removed;
  } catch (error) {
    if (isAppError(error) && error.code === 'VM_NOT_FOUND') {
      removed = [];
    } else {
      const reason = failureReasonOf(error);
      await deps.vms.transition(id, {
        from: 'deleting',
        to: 'failed',
        at: deps.clock.now(),
        failureReason: reason,
        message: reason.message,
      });
      deps.log.warn({ vmId: id, from: 'deleting', to: 'failed', code: reason.code }, 'vm state changed');
      throw error;
    }
  }
  failpoint('manager.delete.after-agent');
  await deps.vms.delete(id, deps.clock.now());
  deps.log.info({ vmId: id, hostId: host.id }, 'vm deleted');
  return { id, project: vm.project, removed };
}

/**
 * SNAPSHOT_IN_USE while another VM still has to be restored from a snapshot of this one (a clone
 * that has not run), SNAPSHOT_IN_TEMPLATE while a template carries one: the snapshot's files are
 * in this VM's directory on its host and go with it, so the VM is kept until nothing needs them
 * (the clone runs or is deleted, the template drops the snapshot or is deleted).
 */
async function assertSnapshotsUnused(deps: Pick<Deps, 'vms' | 'snapshots' | 'templates'>, vmId: VmId): Promise<void> {
  const snapshots = (await snapshotsOfVm(deps, vmId)).filter((snapshot) => snapshot.state === 'ready');
  for (const snapshot of snapshots) {
    const awaiting = (await deps.vms.listAwaitingRestore(snapshot.id)).filter((id) => id !== vmId);
    if (awaiting.length > 0) {
      throw new AppError(
        'SNAPSHOT_IN_USE',
        `VM ${vmId} holds snapshot ${snapshot.id}, still to be restored by ${awaiting.length} VM(s)`,
        { details: { vmId, snapshotId: snapshot.id, vmIds: awaiting } },
      );
    }
  }
  const carrying = await deps.templates.listCarrying(snapshots.map((snapshot) => snapshot.id));
  const carried = carrying[0]?.snapshotId;
  if (carried !== undefined && carried !== null) {
    throw snapshotInTemplate(
      carried,
      carrying.filter((template) => template.snapshotId === carried).map((template) => template.id),
    );
  }
}
