import type { Inventory } from '@hearth/contracts';
import type { AgentContext } from './agent-context.js';
import { observeVm } from './describe-vm.js';

/**
 * `GET /inventory`: only what this Agent created, read from its own records. A VM whose record is
 * unreadable is listed as `unreadable` with its directory, so the Manager leaves it alone and the
 * host's resource ledger shows it.
 */
export async function listInventory(context: AgentContext, hostName: string): Promise<Inventory> {
  const [records, unreadable] = await Promise.all([context.records.list(), context.records.unreadable()]);
  context.vmmStates.retainOnly(new Set(records.map((record) => record.vmId)));
  const vms = await Promise.all(records.map((record) => observeVm(context, record)));
  for (const { vmId, directory } of unreadable) {
    vms.push({
      vmId,
      vmmState: 'unreadable',
      pid: null,
      tapName: null,
      socketPath: null,
      rootfsPath: null,
      resources: [{ kind: 'directory', ref: directory, vmId }],
    });
  }
  return { hostName, vms };
}
