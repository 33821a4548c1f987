import { AppError } from '@hearth/errors';
import type { ProjectSet } from '../../domain/access.js';
import type { VmId } from '../../domain/ids.js';
import type { Vm } from '../../domain/vm.js';
import type { UseCaseDependencies } from '../dependencies.js';
import type { AgentConsoleConnection } from '../ports/agent-client.js';
import { hostOf } from './host-queries.js';
import { getVm } from './vm-queries.js';

type Deps = Pick<UseCaseDependencies, 'vms' | 'hosts' | 'agents'>;

/**
 * The VM whose serial console a client may attach to: VM_NOT_FOUND for another project's VM,
 * VMM_NOT_RUNNING (409) unless it is running.
 */
export async function consoleVmOf(deps: Deps, id: VmId, projects: ProjectSet): Promise<Vm> {
  const vm = await getVm(deps, id, projects);
  if (vm.state !== 'running') {
    throw new AppError('VMM_NOT_RUNNING', `VM ${id} is ${vm.state}: only a running VM's console can be attached`, {
      details: { vmId: id, state: vm.state },
    });
  }
  return vm;
}

/** Attaches to the running VM's serial console on its host: the last `backlogBytes` of its log, then live output. */
export async function attachVmConsole(deps: Deps, vm: Vm, backlogBytes: number): Promise<AgentConsoleConnection> {
  const host = await hostOf(deps, vm.hostId);
  return deps.agents.attachConsole(host, vm.id, backlogBytes);
}
