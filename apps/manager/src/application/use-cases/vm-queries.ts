import { vmNotFound } from '../../domain/vm-errors.js';
import type { VmId } from '../../domain/ids.js';
import type { Vm } from '../../domain/vm.js';
import type { UseCaseDependencies } from '../dependencies.js';
import type { VmPage } from '../ports/vm-repository.js';

export const vmPageSize = { default: 50, maximum: 500 } as const;

export async function listVms(
  deps: Pick<UseCaseDependencies, 'vms'>,
  options: { limit?: number | undefined; cursor?: VmId | undefined },
): Promise<VmPage> {
  const limit = Math.min(Math.max(options.limit ?? vmPageSize.default, 1), vmPageSize.maximum);
  return deps.vms.list({ limit, afterId: options.cursor });
}

export async function getVm(deps: Pick<UseCaseDependencies, 'vms'>, id: VmId): Promise<Vm> {
  const vm = await deps.vms.findById(id);
  if (vm === undefined) throw vmNotFound(id);
  return vm;
}

export { vmNotFound };
