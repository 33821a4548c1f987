import type { ProjectSet } from '../../domain/access.js';
import { getVm } from './vm-queries.js';
import type { VmId } from '../../domain/ids.js';
import type { VmState } from '../../domain/vm-state.js';
import type { UseCaseDependencies } from '../dependencies.js';
import type { WaitOptions, WaitResult } from '../ports/vm-state-waits.js';

export type { WaitOptions, WaitOutcome, WaitResult } from '../ports/vm-state-waits.js';

export const waitTimeoutSeconds = { default: 30, maximum: 300 } as const;

/**
 * Waits until the VM is in `state`, or is `failed` (a terminal failure, unless `failed` is what was
 * asked for), or `timeoutMs` passed. Woken by the VM's events, read once for all its waiters.
 * VM_NOT_FOUND when the VM does not exist or is deleted meanwhile.
 */
export async function waitForVmState(
  deps: Pick<UseCaseDependencies, 'vmWaiters' | 'vms'>,
  id: VmId,
  state: VmState,
  options: WaitOptions & { readonly projects: ProjectSet },
): Promise<WaitResult> {
  // Another project's VM is not there for the caller: VM_NOT_FOUND before any wait.
  await getVm(deps, id, options.projects);
  return deps.vmWaiters.wait(id, state, options);
}
