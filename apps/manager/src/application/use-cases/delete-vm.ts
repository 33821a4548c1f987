import { failpoint } from '@hearth/failpoints';
import type { HostResource } from '@hearth/contracts';
import { isAppError } from '@hearth/errors';
import type { VmId } from '../../domain/ids.js';
import { assertTransition } from '../../domain/vm-state.js';
import type { FailureReason, Vm } from '../../domain/vm.js';
import type { Host } from '../../domain/host.js';
import type { UseCaseDependencies } from '../dependencies.js';
import { isAgentOutcomeUnknown } from './agent-outcome.js';
import { failureReasonOf } from './apply-vm.js';
import { hostOf } from './host-queries.js';
import { versionToMatch, type MutationOptions } from './if-match.js';
import { getVm } from './vm-queries.js';
import { everyProject } from '../../domain/access.js';

type Deps = Pick<UseCaseDependencies, 'vms' | 'hosts' | 'agents' | 'clock' | 'log'>;

/** How many times a delete reads the VM again after another worker changed its state first. */
const maxStateRaces = 3;

/** A delete carried out to the end: the VM's row is gone. */
export interface DeletedVm {
  readonly outcome: 'deleted';
  readonly id: VmId;
  /** The project it belonged to. */
  readonly project: string;
  /** What the Agent removed from the host (empty when it had nothing left). */
  readonly removed: readonly HostResource[];
}

/**
 * A delete accepted but not finished: the VM stays `deleting` and the reconciler finishes it.
 * `reason` says why it is not finished (absent when another delete was under way already).
 */
export interface DeleteUnderWay {
  readonly outcome: 'accepted';
  readonly vm: Vm;
  readonly reason?: FailureReason;
}

export type DeleteVmResult = DeletedVm | DeleteUnderWay;

/**
 * Deletes a VM: `deleting` (refused while its snapshots are still needed, see `whyVmNotDeletable`,
 * checked in the same transaction), the Agent removes everything it made (an Agent that has no record of
 * the VM counts as done), then the row goes and its name is free again.
 *
 * Once `deleting`, the delete is carried through. When the Agent's answer leaves the outcome unknown
 * (no answer in time, not reachable, unavailable for now: see `isAgentOutcomeUnknown`) the VM stays
 * `deleting` and the answer is `accepted`: the reconciler asks the Agent again until it is done. A VM
 * already `deleting` is answered the same way. Only a definite refusal or failure from the Agent
 * makes the VM `failed` with the reason (and is thrown); DELETE can then be retried. A state change
 * by another worker between the read and the change (without If-Match) is read and deleted from.
 */
export async function deleteVm(deps: Deps, id: VmId, options: MutationOptions = {}): Promise<DeleteVmResult> {
  const projects = options.projects ?? everyProject;
  let vm = await getVm(deps, id, projects);
  const ifVersion = versionToMatch(vm, options.ifMatch);
  let host: Host;
  let deleting: Vm;
  for (let attempt = 1; ; attempt += 1) {
    if (vm.state === 'deleting') return { outcome: 'accepted', vm };
    assertTransition(vm.state, 'deleting');
    host = await hostOf(deps, vm.hostId);
    try {
      deleting = await deps.vms.transition(id, { from: vm.state, to: 'deleting', at: deps.clock.now(), ifVersion });
      break;
    } catch (error) {
      // Another worker moved the VM on between the read and the change (the reconciler found its
      // host again: `unknown` → `running`). A delete without If-Match is of the VM, whatever state
      // it was read in: read again, and delete it from the state it is in now if that allows it.
      const isStateRace = isAppError(error) && error.code === 'VM_BUSY' && ifVersion === undefined;
      if (!isStateRace || attempt >= maxStateRaces) throw error;
      vm = await getVm(deps, id, projects);
    }
  }
  failpoint('manager.delete.after-deleting');
  let removed: readonly HostResource[];
  try {
    removed = (await deps.agents.deleteVm(host, id)).removed;
  } catch (error) {
    if (isAppError(error) && error.code === 'VM_NOT_FOUND') {
      removed = [];
    } else if (isAgentOutcomeUnknown(error)) {
      const reason = failureReasonOf(error);
      deps.log.warn(
        { vmId: id, hostId: host.id, state: 'deleting', code: reason.code },
        'vm delete not confirmed by its host; the reconciler finishes it',
      );
      return { outcome: 'accepted', vm: deleting, reason };
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
  return { outcome: 'deleted', id, project: vm.project, removed };
}
