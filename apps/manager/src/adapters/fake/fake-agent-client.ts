import type { AgentVm, ApplyVmResult, CleanupResult, HostResource, StepName, VmSpec } from '@hearth/contracts';
import { AppError } from '@hearth/errors';
import type { AgentClient, AgentTarget } from '../../application/ports/agent-client.js';
import type { VmId } from '../../domain/ids.js';

export type AgentOperation = 'apply' | 'stop' | 'delete';

export interface AgentCall {
  readonly operation: AgentOperation;
  readonly addr: string;
  readonly vmId: VmId;
  readonly spec?: VmSpec;
}

const appliedSteps: readonly StepName[] = [
  'tap',
  'rootfs',
  'spawn',
  'logger',
  'machine-config',
  'boot-source',
  'drives',
  'network',
  'start',
];

/**
 * An Agent that keeps VMs in memory, one per id per address. `failNext(operation, error)` makes the
 * next call of that operation throw instead.
 */
export class FakeAgentClient implements AgentClient {
  readonly calls: AgentCall[] = [];
  private readonly vms = new Map<string, { spec: VmSpec; isRunning: boolean }>();
  private readonly failures = new Map<AgentOperation, Error[]>();

  failNext(operation: AgentOperation, error: Error): void {
    const queue = this.failures.get(operation) ?? [];
    queue.push(error);
    this.failures.set(operation, queue);
  }

  /** The VMs the fake Agent at `addr` holds now. */
  vmIdsOn(addr: string): string[] {
    return [...this.vms.keys()].filter((key) => key.startsWith(`${addr} `)).map((key) => key.slice(addr.length + 1));
  }

  isRunning(addr: string, vmId: VmId): boolean {
    return this.vms.get(`${addr} ${vmId}`)?.isRunning ?? false;
  }

  async applyVm(target: AgentTarget, vmId: VmId, spec: VmSpec): Promise<ApplyVmResult> {
    this.calls.push({ operation: 'apply', addr: target.addr, vmId, spec });
    this.throwIfScripted('apply');
    const key = `${target.addr} ${vmId}`;
    const wasRunning = this.vms.get(key)?.isRunning ?? false;
    this.vms.set(key, { spec, isRunning: true });
    const names = spec.isMetricsEnabled
      ? [...appliedSteps.slice(0, 4), 'metrics' as const, ...appliedSteps.slice(4)]
      : appliedSteps;
    return {
      vm: this.agentVm(vmId, true),
      steps: names.map((name, i) => ({ name, durationMs: wasRunning ? 0 : i + 1, hasRun: !wasRunning })),
    };
  }

  async stopVm(target: AgentTarget, vmId: VmId): Promise<CleanupResult> {
    this.calls.push({ operation: 'stop', addr: target.addr, vmId });
    this.throwIfScripted('stop');
    const entry = this.vms.get(`${target.addr} ${vmId}`);
    if (entry === undefined) throw new AppError('VM_NOT_FOUND', `No VM with id ${vmId}`);
    entry.isRunning = false;
    return { removed: this.resources(vmId).filter((r) => r.kind !== 'rootfs' && r.kind !== 'directory') };
  }

  async deleteVm(target: AgentTarget, vmId: VmId): Promise<CleanupResult> {
    this.calls.push({ operation: 'delete', addr: target.addr, vmId });
    this.throwIfScripted('delete');
    if (!this.vms.delete(`${target.addr} ${vmId}`)) throw new AppError('VM_NOT_FOUND', `No VM with id ${vmId}`);
    return { removed: this.resources(vmId) };
  }

  private throwIfScripted(operation: AgentOperation): void {
    const error = this.failures.get(operation)?.shift();
    if (error !== undefined) throw error;
  }

  private agentVm(vmId: VmId, isRunning: boolean): AgentVm {
    const tapName = `tap-${vmId.slice(-8).toLowerCase()}`;
    return {
      vmId,
      vmmState: isRunning ? 'running' : 'absent',
      pid: isRunning ? 4242 : null,
      tapName,
      socketPath: `/run/hearth/${vmId}/fc.sock`,
      rootfsPath: `/run/hearth/${vmId}/rootfs.ext4`,
      resources: this.resources(vmId),
    };
  }

  private resources(vmId: VmId): HostResource[] {
    return [
      { kind: 'process', ref: '4242', vmId },
      { kind: 'tap', ref: `tap-${vmId.slice(-8).toLowerCase()}`, vmId },
      { kind: 'socket', ref: `/run/hearth/${vmId}/fc.sock`, vmId },
      { kind: 'rootfs', ref: `/run/hearth/${vmId}/rootfs.ext4`, vmId },
      { kind: 'directory', ref: `/run/hearth/${vmId}`, vmId },
    ];
  }
}
