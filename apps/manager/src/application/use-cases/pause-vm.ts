import { isAppError } from '@hearth/errors';
import { failpoint } from '@hearth/failpoints';
import type { VmId } from '../../domain/ids.js';
import { assertTransition } from '../../domain/vm-state.js';
import type { Vm } from '../../domain/vm.js';
import type { UseCaseDependencies } from '../dependencies.js';
import { isAgentOutcomeUnknown } from './agent-outcome.js';
import { failureReasonOf } from './apply-vm.js';
import { versionToMatch, type MutationOptions } from './if-match.js';
import { hostOf } from './host-queries.js';
import { getVm } from './vm-queries.js';
import { everyProject } from '../../domain/access.js';

type Deps = Pick<UseCaseDependencies, 'vms' | 'hosts' | 'agents' | 'clock' | 'log'>;

/** Agent errors meaning the VMM is gone: the VM cannot be running or paused any more. */
export function isVmmGone(error: unknown): boolean {
  return isAppError(error) && (error.code === 'VM_NOT_FOUND' || error.code === 'VMM_NOT_RUNNING');
}

/**
 * Pauses a running VM's vCPUs: `running → pausing`, the Agent pauses the VMM, `→ paused`. When the
 * Agent fails the VM goes back to `running` (it was not paused), or to `failed` when its VMM is
 * gone; the Agent's error is thrown.
 *
 * When the Agent's answer leaves the outcome unknown (see `isAgentOutcomeUnknown`) the VMM may be
 * paused or not: the pause is accepted, the VM answered still `pausing`, and the reconciler pauses
 * it (if it still runs) and records it `paused`.
 */
export async function pauseVm(deps: Deps, id: VmId, options: MutationOptions = {}): Promise<Vm> {
  const vm = await getVm(deps, id, options.projects ?? everyProject);
  const ifVersion = versionToMatch(vm, options.ifMatch);
  assertTransition(vm.state, 'pausing');
  const host = await hostOf(deps, vm.hostId);
  const pausing = await deps.vms.transition(id, { from: vm.state, to: 'pausing', at: deps.clock.now(), ifVersion });
  failpoint('manager.pause.after-pausing');
  try {
    await deps.agents.pauseVm(host, id);
  } catch (error) {
    const reason = failureReasonOf(error);
    if (isAgentOutcomeUnknown(error)) {
      deps.log.warn(
        { vmId: id, hostId: host.id, state: 'pausing', code: reason.code },
        'vm pause not confirmed by its host; the reconciler finishes it',
      );
      return pausing;
    }
    const to = isVmmGone(error) ? 'failed' : 'running';
    await deps.vms.transition(id, {
      from: 'pausing',
      to,
      at: deps.clock.now(),
      ...(to === 'failed' ? { failureReason: reason } : {}),
      message: `pause failed: ${reason.message}`,
    });
    deps.log.warn({ vmId: id, from: 'pausing', to, code: reason.code }, 'vm state changed');
    throw error;
  }
  failpoint('manager.pause.after-agent');
  const paused = await deps.vms.transition(id, { from: 'pausing', to: 'paused', at: deps.clock.now() });
  deps.log.info({ vmId: id, from: 'pausing', to: 'paused' }, 'vm state changed');
  return paused;
}
