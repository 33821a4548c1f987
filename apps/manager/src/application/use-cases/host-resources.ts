import type { ResourceKind } from '@hearth/contracts';
import type { HostId, VmId } from '../../domain/ids.js';
import type { VmState } from '../../domain/vm-state.js';
import type { UseCaseDependencies } from '../dependencies.js';
import { hostOf } from './host-queries.js';

/** One thing a host's Agent holds, with the VM it belongs to and what the Manager knows of that VM. */
export interface HostResourceEntry {
  readonly kind: ResourceKind;
  /** A TAP name, a path or a pid. */
  readonly ref: string;
  readonly vmId: VmId;
  /** The VM's state in the Manager; null when the Manager has no such VM on this host. */
  readonly vmState: VmState | null;
  /** True when no VM record on this host stands behind it: the reconciler removes it. */
  readonly isOrphaned: boolean;
  /** True when the Agent cannot read the VM's record: it is left in place, orphaned or not. */
  readonly isRecordUnreadable: boolean;
}

export interface HostResourceLedger {
  readonly hostId: HostId;
  readonly hostName: string;
  readonly readAt: Date;
  readonly resources: readonly HostResourceEntry[];
}

/**
 * The host's resource ledger, read live from its Agent: every TAP, process, socket, FIFO, rootfs
 * copy, log and state directory, each tagged with its VM id and checked against the VM records,
 * the marked TAPs the Agent holds no record of, and the copies of other hosts' snapshots it holds.
 * (The Agent creates no firewall rules yet, so there are none to list.) AGENT_UNAVAILABLE when the
 * Agent cannot be reached.
 */
export async function listHostResources(
  deps: Pick<UseCaseDependencies, 'hosts' | 'vms' | 'snapshots' | 'agents' | 'clock'>,
  id: HostId,
): Promise<HostResourceLedger> {
  const host = await hostOf(deps, id);
  const inventory = await deps.agents.inventory(host);
  const readAt = deps.clock.now();
  const resources: HostResourceEntry[] = [];
  for (const agentVm of inventory.vms) {
    const vm = await deps.vms.findById(agentVm.vmId as VmId);
    const isOrphaned = vm === undefined || vm.hostId !== id;
    for (const resource of agentVm.resources) {
      resources.push({
        kind: resource.kind,
        ref: resource.ref,
        vmId: resource.vmId as VmId,
        vmState: isOrphaned ? null : vm.state,
        isOrphaned,
        isRecordUnreadable: agentVm.vmmState === 'unreadable',
      });
    }
  }
  // Made by the Agent but written in no record of it (a TAP marked just before a crash): its next start removes them.
  for (const resource of inventory.unrecorded ?? []) {
    resources.push({
      kind: resource.kind,
      ref: resource.ref,
      vmId: resource.vmId as VmId,
      vmState: null,
      isOrphaned: true,
      isRecordUnreadable: false,
    });
  }
  // Copies of snapshots taken on other hosts: orphaned when no record of a copy on this host stands behind them.
  if ((inventory.snapshotCopies ?? []).length > 0) {
    const recorded = new Set<string>((await deps.snapshots.listCopiesOnHost(id)).map((copy) => copy.snapshotId));
    for (const copy of inventory.snapshotCopies ?? []) {
      const vm = await deps.vms.findById(copy.vmId as VmId);
      resources.push({
        kind: 'snapshot',
        ref: copy.snapshotId,
        vmId: copy.vmId as VmId,
        vmState: vm?.state ?? null,
        isOrphaned: !recorded.has(copy.snapshotId),
        isRecordUnreadable: false,
      });
    }
  }
  return { hostId: host.id, hostName: host.name, readAt, resources };
}
