import type { VmId } from '../../domain/ids.js';
import { assertTransition } from '../../domain/vm-state.js';
import type { Vm } from '../../domain/vm.js';
import type { UseCaseDependencies } from '../dependencies.js';
import { isAgentOutcomeUnknown } from './agent-outcome.js';
import { failureReasonOf } from './apply-vm.js';
import { hostOf } from './host-queries.js';
import { versionToMatch, type MutationOptions } from './if-match.js';
import { getVm } from './vm-queries.js';
import { everyProject } from '../../domain/access.js';

type Deps = Pick<UseCaseDependencies, 'vms' | 'hosts' | 'agents' | 'clock' | 'log'>;

/**
 * Stops a running (or paused) VM: its process, TAP, socket and FIFO go; its rootfs copy stays for a
 * later start.
 *
 * When the Agent's answer leaves the outcome unknown (no answer in time, not reachable, unavailable
 * for now: see `isAgentOutcomeUnknown`) the stop is accepted but not finished: the VM is answered
 * still `stopping`, and the reconciler asks the Agent again until it is stopped. Only a definite
 * refusal or failure from the Agent makes the VM `failed` with the reason (and is thrown).
 */
export async function stopVm(deps: Deps, id: VmId, options: MutationOptions = {}): Promise<Vm> {
  const vm = await getVm(deps, id, options.projects ?? everyProject);
  const ifVersion = versionToMatch(vm, options.ifMatch);
  assertTransition(vm.state, 'stopping');
  const host = await hostOf(deps, vm.hostId);
  const stopping = await deps.vms.transition(id, { from: vm.state, to: 'stopping', at: deps.clock.now(), ifVersion });
  try {
    await deps.agents.stopVm(host, id);
  } catch (error) {
    const reason = failureReasonOf(error);
    if (isAgentOutcomeUnknown(error)) {
      deps.log.warn(
        { vmId: id, hostId: host.id, state: 'stopping', code: reason.code },
        'vm stop not confirmed by its host; the reconciler finishes it',
      );
      return stopping;
    }
    await deps.vms.transition(id, {
      from: 'stopping',
      to: 'failed',
      at: deps.clock.now(),
      failureReason: reason,
      message: reason.message,
    });
    deps.log.warn({ vmId: id, from: 'stopping', to: 'failed', code: reason.code }, 'vm state changed');
    throw error;
  }
  const stopped = await deps.vms.transition(id, { from: stopping.state, to: 'stopped', at: deps.clock.now() });
  deps.log.info({ vmId: id, from: 'stopping', to: 'stopped' }, 'vm state changed');
  return stopped;
}
