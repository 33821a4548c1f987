import type { ProjectSet } from '../../domain/access.js';
import type { VmId } from '../../domain/ids.js';
import type { UseCaseDependencies } from '../dependencies.js';
import { hostOf } from './host-queries.js';
import { getVm } from './vm-queries.js';

type Deps = Pick<UseCaseDependencies, 'vms' | 'hosts' | 'agents'>;

/**
 * The last `maxBytes` of a VM's serial console output, read from its host's Agent. A VM of another
 * project is VM_NOT_FOUND; a host whose Agent holds nothing of the VM answers VM_NOT_FOUND too.
 */
export async function readVmConsole(deps: Deps, id: VmId, projects: ProjectSet, maxBytes: number): Promise<string> {
  const vm = await getVm(deps, id, projects);
  const host = await hostOf(deps, vm.hostId);
  return deps.agents.consoleLog(host, id, maxBytes);
}
