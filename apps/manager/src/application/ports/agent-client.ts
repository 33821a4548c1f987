import type { ApplyVmResult, CleanupResult, VmSpec } from '@hearth/contracts';
import type { VmId } from '../../domain/ids.js';

/** Where a host's Agent listens. */
export interface AgentTarget {
  readonly addr: string;
}

/**
 * Drives the Agent of one host. Failures are AppErrors: the Agent's own codes (FIRECRACKER_REJECTED,
 * VM_NOT_FOUND, VM_CLEANUP_INCOMPLETE, …), AGENT_UNAVAILABLE when it cannot be reached in time, and
 * AGENT_REJECTED for an answer that is not part of the contract.
 */
export interface AgentClient {
  applyVm(target: AgentTarget, vmId: VmId, spec: VmSpec): Promise<ApplyVmResult>;
  stopVm(target: AgentTarget, vmId: VmId): Promise<CleanupResult>;
  deleteVm(target: AgentTarget, vmId: VmId): Promise<CleanupResult>;
}
