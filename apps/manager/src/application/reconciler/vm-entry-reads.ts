import { isAppError } from '@hearth/errors';
import type { Host } from '../../domain/host.js';
import type { VmId } from '../../domain/ids.js';
import { heldAgentVmOf, type HeldAgentVm } from './held-inventory.js';
import { ignoreNotFound } from './ignore-not-found.js';
import type { InventoryCache } from './inventory-cache.js';
import type { ReconcilerDependencies } from './reconciler-dependencies.js';

/** What a host's Agent holds for one VM, and when it was asked (ms since the epoch, on the reconciler's clock). */
export interface VmEntryRead {
  readonly at: number;
  /**
   * The VM's entry as the host's inventory lists it (`entry` undefined: the Agent holds nothing of
   * it), or undefined when the Agent could not be read (and it is logged): nothing is then done.
   */
  readonly read: Promise<{ readonly entry: HeldAgentVm | undefined } | undefined>;
}

/**
 * Reads what a host's Agent holds for one VM, for the reconcile of that VM: from the host's
 * inventory when one asked for late enough is held (a resync or a host's reconcile read it for all
 * its VMs), else from the Agent for that VM alone (`GET /vms/:id`), so a reconcile after a create or
 * a start costs the Agent and the Manager one VM, not every VM of the host.
 *
 * An older Agent answers `GET /vms/:id` without what only its inventory had (the VM's egress, rate
 * limits, `holdsRuntimeResources`), and VM_RECORD_UNREADABLE for an unreadable record: then the
 * host's inventory is read, as before. Taking the missing fields for "nothing to compare" would
 * leave drift unrepaired for good: a resync queues the VM for it from the inventory, and its
 * reconcile would find nothing to do.
 */
export class VmEntryReads {
  constructor(
    private readonly deps: Pick<ReconcilerDependencies, 'agents' | 'clock' | 'log'>,
    private readonly inventories: InventoryCache,
  ) {}

  /** The VM's entry, from a held inventory asked for at or after `sinceMs`, else read for the VM alone. */
  readOf(host: Host, vmId: VmId, sinceMs: number): VmEntryRead {
    const held = this.inventories.heldSince(host, sinceMs);
    if (held !== undefined) {
      return { at: held.at, read: held.read.then((inventory) => inventory && { entry: entryIn(inventory.vms, vmId) }) };
    }
    const at = this.deps.clock.now().getTime();
    const read = ignoreNotFound(this.deps.agents.describeVm(host, vmId))
      .then((entry) =>
        entry === undefined || entry.holdsRuntimeResources !== undefined
          ? { entry: entry && heldAgentVmOf(entry) }
          : this.fromInventory(host, vmId),
      )
      .catch((error: unknown) => {
        if (isAppError(error) && error.code === 'VM_RECORD_UNREADABLE') return this.fromInventory(host, vmId);
        this.deps.log.warn({ hostId: host.id, vmId, code: isAppError(error) ? error.code : 'INTERNAL' }, 'vm entry unreadable');
        return undefined;
      });
    return { at, read };
  }

  /** From an older Agent: its whole inventory, read now (after the VM's own read was asked for). */
  private async fromInventory(host: Host, vmId: VmId): Promise<{ readonly entry: HeldAgentVm | undefined } | undefined> {
    const inventory = await this.inventories.readOf(host, true).read;
    return inventory && { entry: entryIn(inventory.vms, vmId) };
  }
}

function entryIn(vms: readonly HeldAgentVm[], vmId: VmId): HeldAgentVm | undefined {
  return vms.find((agentVm) => agentVm.vmId === vmId);
}
