import { vmNotFound } from '../../domain/vm-errors.js';
import type { VmId } from '../../domain/ids.js';
import type { Vm } from '../../domain/vm.js';
import type { UseCaseDependencies } from '../dependencies.js';
import type { VmListFilter, VmPage } from '../ports/vm-repository.js';
import { canSeeProject, type ProjectSet } from '../../domain/access.js';

export const vmPageSize = { default: 50, maximum: 500 } as const;

export async function listVms(
  deps: Pick<UseCaseDependencies, 'vms'>,
  filter: VmListFilter,
  options: { limit?: number | undefined; cursor?: VmId | undefined },
): Promise<VmPage> {
  const limit = Math.min(Math.max(options.limit ?? vmPageSize.default, 1), vmPageSize.maximum);
  return deps.vms.list(filter, { limit, afterId: options.cursor });
}

/** The VM, when it is one of `projects`' (another project's VM is not there for the caller: VM_NOT_FOUND). */
export async function getVm(deps: Pick<UseCaseDependencies, 'vms'>, id: VmId, projects: ProjectSet): Promise<Vm> {
  const vm = await deps.vms.findById(id);
  if (vm === undefined || !canSeeProject(projects, vm.project)) throw vmNotFound(id);
  return vm;
}

export { vmNotFound };
