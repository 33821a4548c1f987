import { AppError } from '@hearth/errors';
import type { VmId } from '../../domain/ids.js';
import { rejectionOf, noAllocation } from '../../domain/placement.js';
import { assertTransition } from '../../domain/vm-state.js';
import type { Vm } from '../../domain/vm.js';
import type { Host } from '../../domain/host.js';
import type { UseCaseDependencies } from '../dependencies.js';
import { applyVmOnHost } from './apply-vm.js';
import { hostOf } from './host-queries.js';
import { versionToMatch, type MutationOptions } from './if-match.js';
import { getVm } from './vm-queries.js';
import { everyProject } from '../../domain/access.js';

type Deps = Pick<
  UseCaseDependencies,
  'vms' | 'snapshots' | 'hosts' | 'agents' | 'contacts' | 'clock' | 'log' | 'settings' | 'reconcileStates'
>;

/**
 * Starts a stopped (or failed) VM again on its own host by re-applying its spec. A user's start
 * gives the VM a fresh crash-loop budget and replaces any restart the reconciler had scheduled.
 */
export async function startVm(deps: Deps, id: VmId, options: MutationOptions = {}): Promise<Vm> {
  const vm = await getVm(deps, id, options.projects ?? everyProject);
  const ifVersion = versionToMatch(vm, options.ifMatch);
  assertTransition(vm.state, 'starting');
  const host = await hostOf(deps, vm.hostId);
  await assertHostTakesVm(deps, host, vm);
  const starting = await deps.vms.transition(id, { from: vm.state, to: 'starting', at: deps.clock.now(), ifVersion });
  await deps.reconcileStates.resetCrashWindow(id);
  await deps.reconcileStates.clearRetry(id);
  return applyVmOnHost(deps, starting, host, 'stop');
}

/** HOST_NO_CAPACITY unless the VM's own host can take it again now (a VM that holds nothing there: stopped or failed). */
export async function assertHostTakesVm(
  deps: Pick<Deps, 'vms' | 'contacts' | 'clock' | 'settings'>,
  host: Host,
  vm: Vm,
): Promise<void> {
  const allocations = await deps.vms.allocationsByHost([host.id]);
  const allocation = allocations.get(host.id) ?? noAllocation;
  const reason = rejectionOf(host, vm, allocation, deps.settings, deps.clock.now(), deps.contacts.lastAnswerOf);
  if (reason !== undefined) {
    throw new AppError('HOST_NO_CAPACITY', `Host ${host.id} of VM ${vm.id} cannot take it now`, {
      details: { hosts: [{ hostId: host.id, reason }], vmId: vm.id },
    });
  }
}
