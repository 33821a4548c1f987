import type { Inventory } from '@hearth/contracts';
import type { AgentContext } from './agent-context.js';
import { observeVm } from './describe-vm.js';
import { unrecordedTaps } from './unrecorded-taps.js';

/**
 * `GET /inventory`: only what this Agent created: its VMs, read from its own records, and the TAPs
 * carrying its mark that no record names (made just before a crash, or by a create in progress).
 */
export async function listInventory(context: AgentContext, hostName: string): Promise<Inventory> {
  const records = await context.records.list();
  context.vmmStates.retainOnly(new Set(records.map((record) => record.vmId)));
  const [vms, taps] = await Promise.all([
    Promise.all(records.map((record) => observeVm(context, record))),
    unrecordedTaps(context, records),
  ]);
  return { hostName, vms, unrecorded: taps.map((tap) => ({ kind: 'tap' as const, ref: tap.name, vmId: tap.vmId })) };
}
