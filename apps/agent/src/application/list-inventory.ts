import type { Inventory } from '@hearth/contracts';
import type { AgentContext } from './agent-context.js';
import { observeVm } from './describe-vm.js';

/** `GET /inventory`: only what this Agent created, read from its own records. */
export async function listInventory(context: AgentContext, hostName: string): Promise<Inventory> {
  const records = await context.records.list();
  context.vmmStates.retainOnly(new Set(records.map((record) => record.vmId)));
  const vms = await Promise.all(records.map((record) => observeVm(context, record)));
  return { hostName, vms };
}
