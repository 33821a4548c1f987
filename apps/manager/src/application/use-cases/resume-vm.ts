import type { VmId } from '../../domain/ids.js';
import { invalidTransition } from '../../domain/vm-state.js';
import type { Vm } from '../../domain/vm.js';
import type { UseCaseDependencies } from '../dependencies.js';
import { failureReasonOf } from './apply-vm.js';
import { versionToMatch, type MutationOptions } from './if-match.js';
import { isVmmGone } from './pause-vm.js';
import { hostOf } from './host-queries.js';
import { getVm } from './vm-queries.js';
import { everyProject } from '../../domain/access.js';

type Deps = Pick<UseCaseDependencies, 'vms' | 'hosts' | 'agents' | 'clock' | 'log'>;

/**
 * Resumes a paused VM: the Agent resumes the VMM, then `paused → running` (a compare-and-set, so a
 * concurrent change wins and this answers VM_BUSY). When the Agent fails the VM stays `paused`, or
 * becomes `failed` when its VMM is gone; the Agent's error is thrown. When that error leaves the
 * outcome unknown, the host may have resumed the VMM after all: the reconciler then records the VM
 * `running` once it sees the VMM run (`record_resumed`).
 */
export async function resumeVm(deps: Deps, id: VmId, options: MutationOptions = {}): Promise<Vm> {
  const vm = await getVm(deps, id, options.projects ?? everyProject);
  const ifVersion = versionToMatch(vm, options.ifMatch);
  if (vm.state !== 'paused') throw invalidTransition(vm.state, 'running');
  const host = await hostOf(deps, vm.hostId);
  try {
    await deps.agents.resumeVm(host, id);
  } catch (error) {
    if (isVmmGone(error)) {
      const reason = failureReasonOf(error);
      await deps.vms.transition(id, {
        from: 'paused',
        to: 'failed',
        at: deps.clock.now(),
        failureReason: reason,
        message: `resume failed: ${reason.message}`,
      });
      deps.log.warn({ vmId: id, from: 'paused', to: 'failed', code: reason.code }, 'vm state changed');
    }
    throw error;
  }
  const running = await deps.vms.transition(id, { from: 'paused', to: 'running', at: deps.clock.now(), ifVersion });
  deps.log.info({ vmId: id, from: 'paused', to: 'running' }, 'vm state changed');
  return running;
}
