import type { AgentVm } from '@hearth/contracts';
import type { UnreadableVmRecord, VmRecord } from '../../domain/vm-record.js';
import { agentVmOf, inventoryEntry, unreadableEntry, type EgressObservation, type VmObservation } from './describe-vm.js';

/** What an entry was built from. Records are never changed in place: a saved change is a new object. */
interface HeldEntry {
  readonly record: VmRecord;
  readonly observation: VmObservation;
  readonly egress: EgressObservation | undefined;
  readonly entry: AgentVm;
}

function isSameObservation(a: VmObservation, b: VmObservation): boolean {
  return (
    a.vmmState === b.vmmState &&
    a.vmmExit === b.vmmExit &&
    a.waitingSnapshotIds.length === b.waitingSnapshotIds.length &&
    a.waitingSnapshotIds.every((id, index) => id === b.waitingSnapshotIds[index])
  );
}

function isSameEgress(a: EgressObservation | undefined, b: EgressObservation | undefined): boolean {
  return a === b || (a !== undefined && b !== undefined && a.policy === b.policy && a.isInPlace === b.isInPlace);
}

/**
 * Each VM's inventory entry, kept while what it was built from stays the same: the same record
 * object, the same observation of its VMM, the same egress observation. An inventory of a host
 * where nothing changed then builds no entry, and lists the very objects it listed before, which
 * is what lets its answer's bytes and tag be reused (`InventoryAnswers`). One instance per kind of
 * read (with resources or without), held for as long as the Agent serves the inventory.
 */
export class InventoryEntries {
  private readonly held = new Map<string, HeldEntry>();
  private readonly unreadableHeld = new Map<string, { readonly from: UnreadableVmRecord; readonly entry: AgentVm }>();

  constructor(readonly isWithResources: boolean) {}

  /** The VM's entry: the one held when built from the same inputs, else a new one (then held). */
  entryOf(record: VmRecord, observation: VmObservation, egress: EgressObservation | undefined): AgentVm {
    const held = this.held.get(record.vmId);
    if (
      held !== undefined &&
      held.record === record &&
      isSameObservation(held.observation, observation) &&
      isSameEgress(held.egress, egress)
    ) {
      return held.entry;
    }
    const entry = inventoryEntry(agentVmOf(record, observation), record, egress, this.isWithResources);
    this.held.set(record.vmId, { record, observation, egress, entry });
    return entry;
  }

  /** The entry of a VM whose record is unreadable, held like the others. */
  unreadableEntryOf(unreadable: UnreadableVmRecord): AgentVm {
    const held = this.unreadableHeld.get(unreadable.vmId);
    if (held !== undefined && held.from.directory === unreadable.directory) return held.entry;
    const entry = unreadableEntry(unreadable, this.isWithResources);
    this.unreadableHeld.set(unreadable.vmId, { from: unreadable, entry });
    return entry;
  }

  /** Forgets the entries of VMs not in `vmIds` (readable) and `unreadableIds`. */
  retainOnly(vmIds: ReadonlySet<string>, unreadableIds: ReadonlySet<string>): void {
    for (const vmId of this.held.keys()) if (!vmIds.has(vmId)) this.held.delete(vmId);
    for (const vmId of this.unreadableHeld.keys()) if (!unreadableIds.has(vmId)) this.unreadableHeld.delete(vmId);
  }
}
