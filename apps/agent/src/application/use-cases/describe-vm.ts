import { holdsRuntimeResources, unreadableAgentVm, type AgentVm, type VmmState } from '@hearth/contracts';
import { vmmStateFromFirecracker } from '../../domain/firecracker-state.js';
import {
  recordedResources,
  snapshotsOf,
  vmNotFoundError,
  type UnreadableVmRecord,
  type VmRecord,
} from '../../domain/vm-record.js';
import type { VmId } from '../../domain/vm-id.js';
import type { AgentContext } from '../agent-context.js';
import type { VmmExit } from '../ports/vmm.js';
import { egressObservations } from '../steps/vm-egress.js';

/** What `egressObservations` says of one VM. */
export type EgressObservation = NonNullable<AgentVm['egress']>;

/**
 * What the Agent sees of a recorded VM beyond its record: the VMM's state, the snapshots asked for
 * that still wait for the VM's lock, and how its VMM exited (when it did and the Agent saw it).
 */
export interface VmObservation {
  readonly vmmState: VmmState;
  readonly waitingSnapshotIds: readonly string[];
  readonly vmmExit: VmmExit | undefined;
}

const noSnapshotIds: readonly string[] = [];

/** Observes the VM's VMM (a `/proc` read, and `GET /` when its last answer is not kept). */
export async function observeVmm(context: AgentContext, record: VmRecord): Promise<VmObservation> {
  const vmmState = await observeVmmState(context, record);
  const asked = context.snapshotsAsked.of(record.vmId);
  const waitingSnapshotIds =
    asked.length === 0 ? noSnapshotIds : asked.filter((id) => !snapshotsOf(record).some((snapshot) => snapshot.id === id));
  const vmmExit = vmmState === 'exited' && record.process !== null ? context.vmm.exitOf(record.process) : undefined;
  return { vmmState, waitingSnapshotIds, vmmExit };
}

/** The VM as `observeVm` answers it, from its record and what `observeVmm` saw. */
export function agentVmOf(record: VmRecord, { vmmState, waitingSnapshotIds, vmmExit }: VmObservation): AgentVm {
  const recorded = agentVmFromRecord(record, vmmState);
  const snapshots = recorded.snapshots ?? [];
  const waiting = waitingSnapshotIds.map((id) => ({ id, state: 'creating' as const }));
  const vm = waiting.length === 0 ? recorded : { ...recorded, snapshots: [...snapshots, ...waiting] };
  return vmmExit === undefined ? vm : { ...vm, vmmExit };
}

/**
 * What the Agent observes about a recorded VM: its record plus the VMM's own state, and the
 * snapshots asked for that still wait for the VM's lock (as `creating`).
 */
export async function observeVm(context: AgentContext, record: VmRecord): Promise<AgentVm> {
  return agentVmOf(record, await observeVmm(context, record));
}

export function agentVmFromRecord(record: VmRecord, vmmState: VmmState): AgentVm {
  return {
    vmId: record.vmId,
    vmmState,
    pid: record.process?.pid ?? null,
    tapName: record.tap?.name ?? null,
    socketPath: record.socketPath,
    rootfsPath: record.rootfs?.path ?? null,
    resources: recordedResources(record),
    snapshots: snapshotsOf(record).map((snapshot) => ({ id: snapshot.id, state: snapshot.state })),
  };
}

/**
 * A recorded VM as the inventory lists it and `GET /vms/:id` answers it: what `observeVm` saw, with
 * what the Manager compares with the VM's desired state to repair drift (the egress its record holds
 * and whether its rules are in place, for a running VM; its rate limits) and whether it holds
 * runtime resources. `isWithResources` false leaves the resource list out (`?resources=none`).
 */
export function inventoryEntry(
  observed: AgentVm,
  record: VmRecord,
  egress: EgressObservation | undefined,
  isWithResources: boolean,
): AgentVm {
  return {
    ...observed,
    resources: isWithResources ? observed.resources : [],
    holdsRuntimeResources: holdsRuntimeResources(observed.resources),
    ...(egress === undefined ? {} : { egress }),
    rateLimits: record.spec?.rateLimits ?? {},
  };
}

/** A VM whose record cannot be read, as the inventory lists it and `GET /vms/:id` answers it. */
export function unreadableEntry({ vmId, directory }: UnreadableVmRecord, isWithResources: boolean): AgentVm {
  return unreadableAgentVm(vmId, directory, isWithResources);
}

async function observeVmmState(context: AgentContext, record: VmRecord): Promise<VmmState> {
  if (record.process === null) return 'absent';
  if (!(await context.vmm.isAlive(record.process))) return 'exited';
  if (record.socketPath === null) return 'not_started';
  const known = context.vmmStates.lookup(record.vmId, context.clock.monotonicMs());
  if (known !== undefined) return known;
  const token = context.vmmStates.token();
  try {
    const info = await context.firecracker.client(record.socketPath).describeInstance();
    const state = vmmStateFromFirecracker(info.state);
    context.vmmStates.remember(record.vmId, token, state, context.clock.monotonicMs());
    return state;
  } catch {
    return record.lifecycle === 'running' ? 'running' : 'not_started';
  }
}

/**
 * `GET /vms/:id`: the entry the inventory lists for the VM (its resource list included), read for
 * this VM alone. A VM whose record is unreadable is answered as `unreadable`, as the inventory lists
 * it; VM_NOT_FOUND when the Agent holds nothing of the VM (the inventory would not list it).
 */
export async function describeVm(context: AgentContext, vmId: VmId): Promise<AgentVm> {
  const record = await context.records.get(vmId);
  if (record === undefined) {
    const unreadable = (await context.records.unreadable()).find((entry) => entry.vmId === vmId);
    if (unreadable !== undefined) return unreadableEntry(unreadable, true);
    throw vmNotFoundError(vmId);
  }
  const [observed, egress] = await Promise.all([observeVm(context, record), egressObservations(context, [record])]);
  return inventoryEntry(observed, record, egress.get(vmId), true);
}
