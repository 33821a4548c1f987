import { holdsRuntimeResources, type AgentVm, type Inventory } from '@hearth/contracts';
import type { SharedValues } from './shared-values.js';

/**
 * What the reconciler reads of one VM in its host's inventory: its state, how its VMM ended, its
 * snapshots, its egress and rate limits, and whether it holds runtime resources. Not its pid, paths,
 * TAP name or resources, which no decision reads and which were most of what an entry held.
 */
export type HeldAgentVm = Pick<AgentVm, 'vmId' | 'vmmState' | 'vmmExit' | 'snapshots' | 'egress' | 'rateLimits'> & {
  readonly holdsRuntimeResources: boolean;
};

/** A host's inventory as the reconciler holds it between reads (ADR 0091). */
export interface HeldInventory {
  readonly vms: readonly HeldAgentVm[];
  readonly snapshotCopies?: Inventory['snapshotCopies'];
}

const noSnapshots: NonNullable<AgentVm['snapshots']> = Object.freeze([]) as unknown as NonNullable<AgentVm['snapshots']>;

/** The entry as held; with `shared`, its common values shared with the host's other entries and other hosts'. */
export function heldAgentVmOf(agentVm: AgentVm, shared?: SharedValues): HeldAgentVm {
  const { egress, rateLimits, snapshots } = agentVm;
  return {
    vmId: agentVm.vmId,
    vmmState: agentVm.vmmState,
    vmmExit: agentVm.vmmExit,
    snapshots: snapshots !== undefined && snapshots.length === 0 ? noSnapshots : snapshots,
    egress: egress === undefined || shared === undefined ? egress : shared.agentVmEgress(egress),
    rateLimits: rateLimits === undefined || shared === undefined ? rateLimits : shared.rateLimits(rateLimits),
    holdsRuntimeResources: agentVm.holdsRuntimeResources ?? holdsRuntimeResources(agentVm.resources),
  };
}

export function heldInventoryOf(inventory: Inventory, shared: SharedValues): HeldInventory {
  return {
    vms: inventory.vms.map((agentVm) => heldAgentVmOf(agentVm, shared)),
    snapshotCopies: inventory.snapshotCopies,
  };
}
