import type { Inventory } from '@hearth/contracts';
import type { AgentContext } from '../agent-context.js';
import { observeVm } from './describe-vm.js';
import { unrecordedTaps } from '../steps/unrecorded-taps.js';

/**
 * `GET /inventory`: only what this Agent created: its VMs, read from its own records, and the TAPs
 * carrying its mark that no record names (made just before a crash, or by a create in progress). A
 * VM whose record is unreadable is listed as `unreadable` with its directory, so the Manager leaves
 * it alone and the host's resource ledger shows it.
 */
export async function listInventory(context: AgentContext, hostName: string): Promise<Inventory> {
  const [records, unreadable] = await Promise.all([context.records.list(), context.records.unreadable()]);
  context.vmmStates.retainOnly(new Set(records.map((record) => record.vmId)));
  const [vms, taps] = await Promise.all([
    Promise.all(records.map((record) => observeVm(context, record))),
    unrecordedTaps(context, records, new Set(unreadable.map((entry) => entry.vmId))),
  ]);
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
  return { hostName, vms, unrecorded: taps.map((tap) => ({ kind: 'tap' as const, ref: tap.name, vmId: tap.vmId })) };
}
