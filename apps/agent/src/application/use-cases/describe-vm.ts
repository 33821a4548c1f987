import type { AgentVm, VmmState } from '@hearth/contracts';
import { vmmStateFromFirecracker } from '../../domain/firecracker-state.js';
import { recordedResources, snapshotsOf, type VmRecord } from '../../domain/vm-record.js';
import type { VmId } from '../../domain/vm-id.js';
import type { AgentContext } from '../agent-context.js';
import { VmLedger } from '../vm-ledger.js';

/**
 * What the Agent observes about a recorded VM: its record plus the VMM's own state, and the
 * snapshots asked for that still wait for the VM's lock (as `creating`).
 */
export async function observeVm(context: AgentContext, record: VmRecord): Promise<AgentVm> {
  const vmmState = await observeVmmState(context, record);
  const recorded = agentVmFromRecord(record, vmmState);
  const snapshots = recorded.snapshots ?? [];
  const waiting = context.snapshotsAsked
    .of(record.vmId)
    .filter((id) => !snapshots.some((snapshot) => snapshot.id === id))
    .map((id) => ({ id, state: 'creating' as const }));
  const vm = waiting.length === 0 ? recorded : { ...recorded, snapshots: [...snapshots, ...waiting] };
  const vmmExit = vmmState === 'exited' && record.process !== null ? context.vmm.exitOf(record.process) : undefined;
  return vmmExit === undefined ? vm : { ...vm, vmmExit };
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

export async function describeVm(context: AgentContext, vmId: VmId): Promise<AgentVm> {
  const ledger = await VmLedger.open(context, vmId);
  return observeVm(context, ledger.record);
}
