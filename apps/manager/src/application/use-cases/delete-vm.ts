import { failpoint } from '@hearth/failpoints';
import type { HostResource } from '@hearth/contracts';
import { isAppError } from '@hearth/errors';
import type { VmId } from '../../domain/ids.js';
import { assertTransition } from '../../domain/vm-state.js';
import type { UseCaseDependencies } from '../dependencies.js';
import { failureReasonOf } from './apply-vm.js';
import { hostOf } from './host-queries.js';
import { versionToMatch, type MutationOptions } from './if-match.js';
import { getVm } from './vm-queries.js';
import { everyProject } from '../../domain/access.js';

type Deps = Pick<UseCaseDependencies, 'vms' | 'hosts' | 'agents' | 'clock' | 'log'>;

export interface DeletedVm {
  readonly id: VmId;
  /** The project it belonged to. */
  readonly project: string;
  /** What the Agent removed from the host (empty when it had nothing left). */
  readonly removed: readonly HostResource[];
}

/**
 * Deletes a VM: `deleting` (refused while its snapshots are still needed, see `whyVmNotDeletable`,
 * checked in the same transaction), the Agent removes everything it made (an Agent that has no record of
 * the VM counts as done), then the row goes and its name is free again. When the Agent fails the
 * VM becomes `failed` with the reason, and DELETE can be retried.
 */
export async function deleteVm(deps: Deps, id: VmId, options: MutationOptions = {}): Promise<DeletedVm> {
  const vm = await getVm(deps, id, options.projects ?? everyProject);
  const ifVersion = versionToMatch(vm, options.ifMatch);
  assertTransition(vm.state, 'deleting');
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
