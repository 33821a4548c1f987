import type { Inventory, InventoryQuery } from '@hearth/contracts';
import type { AgentContext } from '../agent-context.js';
import { observeVmm } from './describe-vm.js';
import { InventoryEntries } from './inventory-entries.js';
import { listSnapshotCopies } from './snapshot-copies.js';
import { unrecordedTaps } from '../steps/unrecorded-taps.js';
import { egressObservations } from '../steps/vm-egress.js';

/**
 * `GET /inventory`: only what this Agent created: its VMs, read from its own records, and the TAPs
 * carrying its mark that no record names (made just before a crash, or by a create in progress). A
 * VM whose record is unreadable is listed as `unreadable` with its directory, so the Manager leaves
 * it alone and the host's resource ledger shows it. Each VM is listed as `GET /vms/:id` answers it
 * (see `inventoryEntry`): a running VM with its egress policy and whether its rules are in place,
 * every VM with its rate limits, for the Manager to repair drift. With `resources: 'none'` each VM's
 * resource list is left out; `holdsRuntimeResources` says what the Manager needs of it either way.
 * `entries` keeps each VM's entry while nothing it was built from changed (one per kind of read, held
 * by the route); without it every entry is built afresh.
 */
export async function listInventory(
  context: AgentContext,
  hostName: string,
  query: InventoryQuery = {},
  entries: InventoryEntries = new InventoryEntries(query.resources !== 'none'),
): Promise<Inventory> {
  const [records, unreadable] = await Promise.all([context.records.list(), context.records.unreadable()]);
  const vmIds = new Set(records.map((record) => record.vmId));
  const unreadableIds = new Set(unreadable.map((entry) => entry.vmId));
  context.vmmStates.retainOnly(vmIds);
  entries.retainOnly(vmIds, unreadableIds);
  const [observations, taps, egress] = await Promise.all([
    Promise.all(records.map((record) => observeVmm(context, record))),
    unrecordedTaps(context, records, unreadableIds),
    egressObservations(context, records),
  ]);
  const vms = records.map((record, index) => entries.entryOf(record, observations[index]!, egress.get(record.vmId)));
  for (const entry of unreadable) vms.push(entries.unreadableEntryOf(entry));
  return {
    hostName,
    vms,
    unrecorded: taps.map((tap) => ({ kind: 'tap' as const, ref: tap.name, vmId: tap.vmId })),
    snapshotCopies: await listSnapshotCopies(context),
  };
}
