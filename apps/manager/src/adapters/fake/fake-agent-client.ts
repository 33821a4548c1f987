import {
  agentCapabilities,
  applyPlan,
  holdsRuntimeResources,
  isSameRateLimits,
  type AgentVm,
  type ApplyVmResult,
  type CleanupResult,
  type ConsoleCloseReason,
  type CreateSnapshotRequest,
  type EgressPolicy,
  type EgressPolicyResult,
  type HostResource,
  type SnapshotCopyRequest,
  type SnapshotResult,
  type Inventory,
  type InventoryQuery,
  type RateLimits,
  type RateLimitsResult,
  type VmSpec,
  unreadableAgentVm,
} from '@hearth/contracts';
import { createHash } from 'node:crypto';
import { AppError } from '@hearth/errors';
import type {
  AgentClient,
  AgentConsoleConnection,
  AgentMetricsText,
  AgentTarget,
  InventoryAnswer,
  StopVmOptions,
} from '../../application/ports/agent-client.js';
import type { SnapshotId, VmId } from '../../domain/ids.js';
import type { SnapshotFileEncoding } from '../../domain/snapshot-compatibility.js';

export type AgentOperation =
  | 'apply'
  | 'stop'
  | 'delete'
  | 'pause'
  | 'resume'
  | 'egress'
  | 'rateLimits'
  | 'console'
  | 'attachConsole'
  | 'inventory'
  | 'describe'
  | 'metrics'
  | 'snapshot'
  | 'deleteSnapshot'
  | 'copySnapshot'
  | 'deleteSnapshotCopy';

export interface AgentCall {
  readonly operation: AgentOperation;
  readonly addr: string;
  readonly vmId?: VmId;
  readonly spec?: VmSpec;
  readonly egress?: EgressPolicy;
  readonly rateLimits?: RateLimits;
  /** For a stop: whether it was asked to keep the VM's network (a stop on the way to a restore in place). */
  readonly isNetworkKept?: boolean;
  /** For an inventory read that named a tag: whether the fake answered it unchanged. */
  readonly isUnchanged?: boolean;
}

/**
 * The TAP name a real Agent gives a VM on its first attempt (ADR 0002, 0109): `fc` + the last 13
 * characters of the ULID's random part, lower-cased (15 bytes, the interface name limit).
 */
function tapNameOf(vmId: VmId): string {
  const randomPart = vmId.slice('vm_'.length + 10);
  return `fc${randomPart.slice(-13).toLowerCase()}`;
}

/**
 * An Agent that keeps VMs in memory, one per id per address. `failNext(operation, error)` makes the
 * next call of that operation throw instead.
 */
export class FakeAgentClient implements AgentClient {
  readonly calls: AgentCall[] = [];
  /** Each `openConnections` asked for, apart from the calls: it opens nothing and changes nothing. */
  readonly connectionsOpened: { readonly addr: string; readonly count: number }[] = [];
  private readonly vms = new Map<string, { spec: VmSpec; isRunning: boolean; isPaused: boolean }>();
  /** VMs whose rules were removed behind the fake Agent's back, by `<addr> <vmId>`, until a policy is applied. */
  private readonly removedRules = new Set<string>();
  /** The policy each VM's record holds, by `<addr> <vmId>` (as an Agent keeps it across stops). */
  private readonly egressPolicies = new Map<string, EgressPolicy>();
  private readonly failures = new Map<AgentOperation, Error[]>();
  private readonly consoles = new Map<string, string>();

  /** Appends to what the VM's serial console printed (the fake Agent must hold the VM). */
  printOnConsole(addr: string, vmId: VmId, text: string): void {
    const key = `${addr} ${vmId}`;
    if (!this.vms.has(key)) throw new Error(`the fake Agent at ${addr} holds no VM ${vmId}`);
    this.consoles.set(key, (this.consoles.get(key) ?? '') + text);
  }

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

  isPaused(addr: string, vmId: VmId): boolean {
    return this.vms.get(`${addr} ${vmId}`)?.isPaused ?? false;
  }

  openConnections(target: AgentTarget, count: number): void {
    this.connectionsOpened.push({ addr: target.addr, count });
  }

  async applyVm(target: AgentTarget, vmId: VmId, spec: VmSpec): Promise<ApplyVmResult> {
    this.calls.push({ operation: 'apply', addr: target.addr, vmId, spec });
    this.throwIfScripted('apply');
    this.throwIfUnreadable(target, vmId);
    const key = `${target.addr} ${vmId}`;
    const wasRunning = this.vms.get(key)?.isRunning ?? false;
    const from = spec.restoreFrom;
    // Like the Agent: a running VMM that did not start by this restore is not taken for one that did.
    const runningFrom = this.vms.get(key)?.spec.restoreFrom;
    if (wasRunning && from !== undefined && (runningFrom?.vmId !== from.vmId || runningFrom.snapshotId !== from.snapshotId)) {
      throw new AppError('VM_INVALID_TRANSITION', `VM ${vmId} is running with a different spec; stop it before applying another`);
    }
    // Like the Agent: a restore needs the snapshot on this host, and a failure records nothing.
    if (
      !wasRunning &&
      from !== undefined &&
      this.snapshots.get(`${target.addr} ${from.vmId}`)?.has(from.snapshotId) !== true &&
      this.copies.get(target.addr)?.has(from.snapshotId) !== true
    ) {
      throw new AppError('SNAPSHOT_NOT_FOUND', `No ready snapshot ${from.snapshotId} of VM ${from.vmId} on this host`);
    }
    // Like the Agent: a copied diff restores under its chain, every parent held on this host.
    let layer = from === undefined || wasRunning ? undefined : this.copies.get(target.addr)?.get(from.snapshotId);
    while (layer?.parentId !== undefined) {
      const parentId = layer.parentId;
      if ([...this.snapshots.entries()].some(([key, ids]) => key.startsWith(`${target.addr} `) && ids.has(parentId))) break;
      layer = this.copies.get(target.addr)?.get(parentId);
      if (layer === undefined) {
        throw new AppError('SNAPSHOT_NOT_FOUND', `Snapshot ${parentId}, parent of a diff to restore, is not on this host`);
      }
    }
    // A restore asked to leave the guest paused leaves it paused.
    this.vms.set(key, { spec, isRunning: true, isPaused: !wasRunning && from?.isPaused === true });
    if (spec.egress !== undefined) this.egressPolicies.set(key, spec.egress);
    this.exited.delete(key);
    const names = applyPlan(spec);
    return {
      vm: this.agentVm(vmId, true),
      steps: names.map((name, i) => ({ name, durationMs: wasRunning ? 0 : i + 1, hasRun: !wasRunning })),
    };
  }

  async stopVm(target: AgentTarget, vmId: VmId, options: StopVmOptions = {}): Promise<CleanupResult> {
    const isNetworkKept = options.isNetworkKept === true;
    this.calls.push({ operation: 'stop', addr: target.addr, vmId, ...(isNetworkKept ? { isNetworkKept } : {}) });
    this.throwIfScripted('stop');
    this.throwIfUnreadable(target, vmId);
    const entry = this.vms.get(`${target.addr} ${vmId}`);
    if (entry === undefined) throw new AppError('VM_NOT_FOUND', `No VM with id ${vmId}`);
    entry.isRunning = false;
    entry.isPaused = false;
    this.exited.delete(`${target.addr} ${vmId}`);
    const kept = isNetworkKept ? ['rootfs', 'directory', 'tap'] : ['rootfs', 'directory'];
    return { removed: this.resources(vmId).filter((r) => !kept.includes(r.kind)) };
  }

  async deleteVm(target: AgentTarget, vmId: VmId): Promise<CleanupResult> {
    this.calls.push({ operation: 'delete', addr: target.addr, vmId });
    this.throwIfScripted('delete');
    this.throwIfUnreadable(target, vmId);
    this.exited.delete(`${target.addr} ${vmId}`);
    this.snapshots.delete(`${target.addr} ${vmId}`);
    this.egressPolicies.delete(`${target.addr} ${vmId}`);
    if (!this.vms.delete(`${target.addr} ${vmId}`)) throw new AppError('VM_NOT_FOUND', `No VM with id ${vmId}`);
    this.consoles.delete(`${target.addr} ${vmId}`);
    return { removed: this.resources(vmId) };
  }

  async pauseVm(target: AgentTarget, vmId: VmId): Promise<void> {
    this.calls.push({ operation: 'pause', addr: target.addr, vmId });
    this.throwIfScripted('pause');
    this.runningEntry(target, vmId).isPaused = true;
  }

  async resumeVm(target: AgentTarget, vmId: VmId): Promise<void> {
    this.calls.push({ operation: 'resume', addr: target.addr, vmId });
    this.throwIfScripted('resume');
    this.runningEntry(target, vmId).isPaused = false;
  }

  /** Snapshots the fake Agent holds, by `<addr> <vmId>`. */
  private readonly snapshots = new Map<string, Set<string>>();

  snapshotIdsOf(addr: string, vmId: VmId): string[] {
    return [...(this.snapshots.get(`${addr} ${vmId}`) ?? [])];
  }

  async snapshotVm(
    target: AgentTarget,
    vmId: VmId,
    snapshotId: SnapshotId,
    request: CreateSnapshotRequest,
  ): Promise<SnapshotResult> {
    this.calls.push({ operation: 'snapshot', addr: target.addr, vmId });
    this.throwIfScripted('snapshot');
    const key = `${target.addr} ${vmId}`;
    // A snapshot it holds is answered again as it was taken, whatever the VM is now (as the Agent does).
    // A merge (like a snapshot it holds) touches no VM: it is answered with the VM as it is.
    const isTaken = this.snapshots.get(key)?.has(snapshotId) === true || request.mergeOf !== undefined;
    const current = this.vms.get(key);
    const entry = isTaken ? { isPaused: false } : this.runningEntry(target, vmId);
    this.snapshots.set(key, new Set([...(this.snapshots.get(key) ?? []), snapshotId]));
    const wasPaused = entry.isPaused;
    if (request.afterwards === 'stopped' && !isTaken) await this.stopVm(target, vmId);
    let stateNow: SnapshotResult['vmState'] = wasPaused ? 'paused' : 'running';
    if (isTaken) stateNow = current?.isRunning !== true ? 'stopped' : current.isPaused ? 'paused' : 'running';
    else if (request.afterwards === 'stopped') stateNow = 'stopped';
    const directory = `/run/hearth/${vmId}`;
    const digests = {
      stateSha256: '1'.repeat(64),
      memorySha256: '2'.repeat(64),
      rootfsSha256: '3'.repeat(64),
      ...(request.type === 'diff' && this.isTakingRegionDigests ? { memoryRegionsSha256: '4'.repeat(64) } : {}),
    };
    return {
      snapshotId,
      files: {
        statePath: `${directory}/${snapshotId}.vmstate`,
        memoryPath: `${directory}/${snapshotId}.memory`,
        rootfsPath: `${directory}/${snapshotId}.rootfs.ext4`,
        stateSizeBytes: 4096,
        memorySizeBytes: (this.vms.get(key)?.spec.memoryMib ?? 0) * 1024 * 1024,
        rootfsSizeBytes: 64 * 1024 * 1024,
      },
      pauseMs: wasPaused ? 0 : 12,
      totalMs: 30,
      vmmVersion: '1.16.1',
      vmState: stateNow,
      ...(this.isTakingDigests ? { digests } : {}),
    };
  }

  /** False: snapshots are answered without digests, as an Agent from before they were taken answers. */
  isTakingDigests = true;
  /** False: diffs are answered without the digest of their memory's data regions (as Agents before it was taken). */
  isTakingRegionDigests = true;

  /** Copies of other hosts' snapshots the fake Agent holds, by address: snapshot id → its VM (and a diff's parent). */
  private readonly copies = new Map<string, Map<string, { readonly vmId: string; readonly parentId?: string }>>();
  /** Snapshots whose files on a host no longer match their digests, as `<addr> <snapshotId>`. */
  private readonly corrupted = new Set<string>();

  /** The snapshot's files on the host at `addr` were changed after it was taken: a copy from there is refused. */
  corruptSnapshotFiles(addr: string, snapshotId: SnapshotId): void {
    this.corrupted.add(`${addr} ${snapshotId}`);
  }

  /** Every copy asked for, in order: the target's address, the snapshot, what the target was told, how files were sent. */
  readonly copyRequests: {
    readonly addr: string;
    readonly snapshotId: SnapshotId;
    readonly request: SnapshotCopyRequest;
    readonly encoding: SnapshotFileEncoding;
  }[] = [];

  /** What the fake Agent at an address takes, by address; one not set takes everything this build's Agent does. */
  private readonly capabilities = new Map<string, ReadonlySet<string>>();

  /**
   * The fake Agent at `addr` takes only what `capabilities` name, as an older Agent: without
   * `snapshot_copy_diffs` it refuses a diff's copy (400, its `parentId` unknown to it), without
   * `snapshot_copy_data_regions` a full snapshot's files sent as data regions (409).
   */
  setCapabilities(addr: string, capabilities: readonly string[]): void {
    this.capabilities.set(addr, new Set(capabilities));
  }

  private takes(addr: string, capability: string): boolean {
    return this.capabilities.get(addr)?.has(capability) ?? true;
  }

  /** The snapshot copies the fake Agent at `addr` holds. */
  snapshotCopiesOn(addr: string): string[] {
    return [...(this.copies.get(addr)?.keys() ?? [])];
  }

  async copySnapshot(
    source: AgentTarget,
    target: AgentTarget,
    snapshotId: SnapshotId,
    request: SnapshotCopyRequest,
    encoding: SnapshotFileEncoding,
  ): Promise<void> {
    this.calls.push({ operation: 'copySnapshot', addr: target.addr, vmId: request.vmId as VmId });
    this.copyRequests.push({ addr: target.addr, snapshotId, request, encoding });
    this.throwIfScripted('copySnapshot');
    if (request.parentId !== undefined && !this.takes(target.addr, agentCapabilities.snapshotCopyDiffs)) {
      throw new AppError('VALIDATION_FAILED', 'body must NOT have additional properties', {
        errors: [{ field: 'body/parentId', message: 'must NOT have additional properties' }],
      });
    }
    const isHeld =
      this.snapshots.get(`${source.addr} ${request.vmId}`)?.has(snapshotId) === true ||
      this.copies.get(source.addr)?.has(snapshotId) === true;
    if (!isHeld) throw new AppError('SNAPSHOT_NOT_FOUND', `No ready snapshot ${snapshotId} on this host`);
    // The fake's files hash to the digests it answers for every snapshot: any other is a mismatch.
    const { stateSha256, memorySha256, rootfsSha256 } = request.digests;
    const isOtherDigest = stateSha256 !== '1'.repeat(64) || memorySha256 !== '2'.repeat(64) || rootfsSha256 !== '3'.repeat(64);
    if (this.corrupted.has(`${source.addr} ${snapshotId}`) || isOtherDigest) {
      throw new AppError('SNAPSHOT_DIGEST_MISMATCH', `The memory file of snapshot ${snapshotId} arrived with another SHA-256`);
    }
    if (encoding === 'data_regions' && !this.takes(target.addr, agentCapabilities.snapshotCopyDataRegions)) {
      throw new AppError(
        'SNAPSHOT_DIGEST_MISMATCH',
        `The memory file of snapshot ${snapshotId} must arrive whole (application/octet-stream)`,
      );
    }
    // Like the Agent: a diff's copy needs its memory file's layout digest.
    if (request.parentId !== undefined && request.digests.memoryRegionsSha256 === undefined) {
      throw new AppError('VALIDATION_FAILED', `Snapshot ${snapshotId} is a diff: its copy needs the digest of its data regions`);
    }
    const held = this.copies.get(target.addr) ?? new Map<string, { vmId: string; parentId?: string }>();
    held.set(snapshotId, { vmId: request.vmId, ...(request.parentId === undefined ? {} : { parentId: request.parentId }) });
    this.copies.set(target.addr, held);
  }

  async deleteSnapshotCopy(target: AgentTarget, snapshotId: SnapshotId): Promise<CleanupResult> {
    this.calls.push({ operation: 'deleteSnapshotCopy', addr: target.addr });
    this.throwIfScripted('deleteSnapshotCopy');
    const held = this.copies.get(target.addr);
    const copy = held?.get(snapshotId);
    if (copy === undefined) return { removed: [] };
    held?.delete(snapshotId);
    return { removed: [{ kind: 'snapshot', ref: snapshotId, vmId: copy.vmId }] };
  }

  async deleteSnapshot(target: AgentTarget, vmId: VmId, snapshotId: SnapshotId): Promise<CleanupResult> {
    this.calls.push({ operation: 'deleteSnapshot', addr: target.addr, vmId });
    this.throwIfScripted('deleteSnapshot');
    const held = this.snapshots.get(`${target.addr} ${vmId}`);
    if (held?.delete(snapshotId) !== true) return { removed: [] };
    return { removed: [{ kind: 'snapshot', ref: snapshotId, vmId }] };
  }

  /** Like an Agent with egress through NAT: a running VM's chain is rewritten, a stopped one keeps the policy. */
  async setVmEgress(target: AgentTarget, vmId: VmId, policy: EgressPolicy): Promise<EgressPolicyResult> {
    this.calls.push({ operation: 'egress', addr: target.addr, vmId, egress: policy });
    this.throwIfScripted('egress');
    this.throwIfUnreadable(target, vmId);
    const key = `${target.addr} ${vmId}`;
    const entry = this.vms.get(key);
    if (entry === undefined) throw new AppError('VM_NOT_FOUND', `No VM with id ${vmId}`);
    this.egressPolicies.set(key, policy);
    if (entry.isRunning) this.removedRules.delete(key);
    return { isApplied: entry.isRunning };
  }

  /** Another tool (or a person) removed the VM's rules from its host's table: the inventory says they are not in place. */
  removeEgressRules(addr: string, vmId: VmId): void {
    this.removedRules.add(`${addr} ${vmId}`);
  }

  async setVmRateLimits(target: AgentTarget, vmId: VmId, rateLimits: RateLimits): Promise<RateLimitsResult> {
    this.calls.push({ operation: 'rateLimits', addr: target.addr, vmId, rateLimits });
    this.throwIfScripted('rateLimits');
    this.throwIfUnreadable(target, vmId);
    const entry = this.vms.get(`${target.addr} ${vmId}`);
    if (entry === undefined) throw new AppError('VM_NOT_FOUND', `No VM with id ${vmId}`);
    const isChanged = !isSameRateLimits(entry.spec.rateLimits ?? {}, rateLimits);
    entry.spec = { ...entry.spec, rateLimits };
    return { isApplied: entry.isRunning && isChanged };
  }

  /** The rate limits the fake Agent holds for the VM (`{}` when it was never given any). */
  rateLimitsOf(addr: string, vmId: VmId): RateLimits {
    return this.vms.get(`${addr} ${vmId}`)?.spec.rateLimits ?? {};
  }

  /** The egress policy the fake Agent holds for the VM (allow all when it was never given one). */
  egressPolicyOf(addr: string, vmId: VmId): EgressPolicy {
    return this.egressPolicies.get(`${addr} ${vmId}`) ?? { mode: 'allow_all' };
  }

  async consoleLog(target: AgentTarget, vmId: VmId, maxBytes: number): Promise<string> {
    this.calls.push({ operation: 'console', addr: target.addr, vmId });
    this.throwIfScripted('console');
    const key = `${target.addr} ${vmId}`;
    if (!this.vms.has(key)) throw new AppError('VM_NOT_FOUND', `No VM with id ${vmId}`);
    return (this.consoles.get(key) ?? '').slice(-maxBytes);
  }

  /** Console connections opened so far, oldest first. */
  readonly consoleConnections: FakeConsoleConnection[] = [];

  async attachConsole(target: AgentTarget, vmId: VmId, backlogBytes: number): Promise<AgentConsoleConnection> {
    this.calls.push({ operation: 'attachConsole', addr: target.addr, vmId });
    this.throwIfScripted('attachConsole');
    this.runningEntry(target, vmId);
    const backlog = backlogBytes === 0 ? '' : (this.consoles.get(`${target.addr} ${vmId}`) ?? '').slice(-backlogBytes);
    const connection = new FakeConsoleConnection(vmId, backlog);
    this.consoleConnections.push(connection);
    return connection;
  }

  private runningEntry(target: AgentTarget, vmId: VmId): { isPaused: boolean } {
    const entry = this.vms.get(`${target.addr} ${vmId}`);
    if (entry === undefined) throw new AppError('VM_NOT_FOUND', `No VM with id ${vmId}`);
    if (!entry.isRunning) throw new AppError('VMM_NOT_RUNNING', `The Firecracker process of VM ${vmId} is not running`);
    return entry;
  }

  /**
   * The fake Agent's metrics in the text exposition format: a counter of the requests it was sent,
   * one series for each VM it holds (as a real Agent labels its per-VM counters by `vm_id`).
   */
  async metrics(target: AgentTarget): Promise<AgentMetricsText> {
    this.calls.push({ operation: 'metrics', addr: target.addr });
    this.throwIfScripted('metrics');
    const lines = [
      "# HELP hearth_vm_firecracker_api_requests_total Requests to the VM's Firecracker API.",
      '# TYPE hearth_vm_firecracker_api_requests_total counter',
      ...this.vmIdsOn(target.addr).map((vmId) => {
        const requests = this.calls.filter((call) => call.addr === target.addr && call.vmId === vmId).length;
        return `hearth_vm_firecracker_api_requests_total{vm_id="${vmId}",method="put"} ${requests}`;
      }),
    ];
    const bytes = new TextEncoder().encode(`${lines.join('\n')}\n`);
    return {
      body: (async function* () {
        yield bytes;
      })(),
    };
  }

  /** `GET /inventory`: every VM the fake holds at `target.addr`, each as `describeVm` answers it. */
  async inventory(target: AgentTarget, query: InventoryQuery = {}): Promise<Inventory> {
    this.calls.push({ operation: 'inventory', addr: target.addr });
    this.throwIfScripted('inventory');
    return this.inventoryNow(target, query);
  }

  /**
   * The tag the Agent at `addr` would send with a heartbeat now: that of its inventory without
   * resources, as `inventoryIfChanged` tags it (no call is recorded).
   */
  heartbeatTag(addr: string): string {
    return this.tagOf(addr, this.inventoryNow({ addr }, { resources: 'none' }));
  }

  private tagOf(addr: string, inventory: Inventory): string {
    const digest = createHash('sha256').update(JSON.stringify(inventory)).digest('base64url').slice(0, 22);
    return `"fake-${this.restarts.get(addr) ?? 0}-${digest}"`;
  }

  private inventoryNow(target: Pick<AgentTarget, 'addr'>, query: InventoryQuery): Inventory {
    const snapshotCopies = [...(this.copies.get(target.addr) ?? new Map<string, { vmId: string }>())].map(
      ([snapshotId, copy]) => ({
        snapshotId,
        vmId: copy.vmId,
        state: 'ready' as const,
        directory: `/run/hearth/snapshots/${snapshotId}`,
      }),
    );
    const withoutResources = query.resources === 'none';
    return {
      hostName: target.addr,
      vms: this.vmIdsOn(target.addr).map((vmId) => {
        const vm = this.entryOf(target.addr, vmId as VmId);
        return withoutResources ? { ...vm, resources: [] } : vm;
      }),
      snapshotCopies,
    };
  }

  /** `GET /vms/:id`: the entry the inventory lists for the VM; VM_NOT_FOUND when the fake holds none. */
  async describeVm(target: AgentTarget, vmId: VmId): Promise<AgentVm> {
    this.calls.push({ operation: 'describe', addr: target.addr, vmId });
    this.throwIfScripted('describe');
    if (!this.vms.has(`${target.addr} ${vmId}`)) throw new AppError('VM_NOT_FOUND', `No VM with id ${vmId}`);
    return this.entryOf(target.addr, vmId);
  }

  /** What the fake Agent at `addr` holds for a VM it holds, as its inventory lists it (resources included). */
  private entryOf(addr: string, vmId: VmId): AgentVm {
    const key = `${addr} ${vmId}`;
    if (this.unreadable.has(key)) {
      return unreadableAgentVm(vmId, `/run/hearth/${vmId}`, true);
    }
    const entry = this.vms.get(key);
    const isRunning = entry?.isRunning ?? false;
    const vm = this.agentVm(vmId, isRunning);
    const rateLimits = entry?.spec.rateLimits ?? {};
    if (isRunning) {
      return {
        ...vm,
        vmmState: entry?.isPaused === true ? 'paused' : 'running',
        holdsRuntimeResources: holdsRuntimeResources(vm.resources),
        egress: { policy: this.egressPolicyOf(addr, vmId), isInPlace: !this.removedRules.has(key) },
        rateLimits,
      };
    }
    if (this.exited.has(key)) {
      const vmmExit = this.exits.get(key);
      return {
        ...vm,
        vmmState: 'exited',
        pid: 4242,
        holdsRuntimeResources: holdsRuntimeResources(vm.resources),
        ...(vmmExit === undefined ? {} : { vmmExit }),
        rateLimits,
      };
    }
    const resources = vm.resources.filter((r) => r.kind === 'rootfs' || r.kind === 'directory');
    return {
      ...vm,
      tapName: null,
      socketPath: null,
      resources,
      holdsRuntimeResources: holdsRuntimeResources(resources),
      rateLimits,
    };
  }

  /**
   * The VMM of a VM dies on its own (its record stays, as on a real Agent). With `exit`, the Agent
   * saw how it ended: `{ code: 0 }` is Firecracker after a reboot from inside the guest.
   */
  killVmm(addr: string, vmId: VmId, exit?: { code: number | null; signal: string | null }): void {
    const entry = this.vms.get(`${addr} ${vmId}`);
    if (entry === undefined) throw new Error(`the fake agent at ${addr} has no VM ${vmId}`);
    entry.isRunning = false;
    entry.isPaused = false;
    this.exited.add(`${addr} ${vmId}`);
    if (exit === undefined) this.exits.delete(`${addr} ${vmId}`);
    else this.exits.set(`${addr} ${vmId}`, exit);
  }

  /** Puts a running VM on the fake Agent that no VM record asked for (e.g. left by a crash). */
  plant(addr: string, vmId: VmId, spec: VmSpec): void {
    this.vms.set(`${addr} ${vmId}`, { spec, isRunning: true, isPaused: false });
  }

  /**
   * The Agent process at `addr` restarts: what it holds stays (its records are on disk), but it is
   * another process, whose inventory tags never match the old one's.
   */
  restartAgent(addr: string): void {
    this.restarts.set(addr, (this.restarts.get(addr) ?? 0) + 1);
  }

  /**
   * Like an Agent: the inventory's tag names the process (its restarts) and the digest of the
   * answer itself, so any change to what it reports changes the tag.
   */
  async inventoryIfChanged(
    target: AgentTarget,
    knownTag: string | undefined,
    query: InventoryQuery = {},
  ): Promise<InventoryAnswer> {
    const inventory = await this.inventory(target, query);
    const tag = this.tagOf(target.addr, inventory);
    const isUnchanged = knownTag === tag;
    const call = this.calls.at(-1);
    if (call !== undefined) this.calls[this.calls.length - 1] = { ...call, isUnchanged };
    return isUnchanged ? { kind: 'unchanged' } : { kind: 'changed', inventory, tag };
  }

  private readonly restarts = new Map<string, number>();
  private readonly exited = new Set<string>();
  private readonly unreadable = new Set<string>();
  private readonly exits = new Map<string, { code: number | null; signal: string | null }>();

  /** The Agent at `addr` restarts and finds the VM's record torn: it keeps the VM's files and refuses changes. */
  tearRecord(addr: string, vmId: VmId): void {
    this.unreadable.add(`${addr} ${vmId}`);
  }

  private throwIfUnreadable(target: AgentTarget, vmId: VmId): void {
    if (!this.unreadable.has(`${target.addr} ${vmId}`)) return;
    throw new AppError('VM_RECORD_UNREADABLE', `The record of VM ${vmId} cannot be read`, { details: { vmId } });
  }

  private throwIfScripted(operation: AgentOperation): void {
    const error = this.failures.get(operation)?.shift();
    if (error !== undefined) throw error;
  }

  private agentVm(vmId: VmId, isRunning: boolean): AgentVm {
    const tapName = tapNameOf(vmId);
    return {
      vmId,
      vmmState: isRunning ? 'running' : 'absent',
      pid: isRunning ? 4242 : null,
      tapName,
      socketPath: `/run/hearth/${vmId}/fc.sock`,
      rootfsPath: `/run/hearth/${vmId}/rootfs.ext4`,
      resources: [
        ...this.resources(vmId),
        ...[...this.snapshots.entries()]
          .filter(([key]) => key.endsWith(` ${vmId}`))
          .flatMap(([, ids]) => [...ids].map((ref) => ({ kind: 'snapshot' as const, ref, vmId }))),
      ],
      snapshots: [...this.snapshots.entries()]
        .filter(([key]) => key.endsWith(` ${vmId}`))
        .flatMap(([, ids]) => [...ids].map((id) => ({ id, state: 'ready' as const }))),
    };
  }

  private resources(vmId: VmId): HostResource[] {
    return [
      { kind: 'process', ref: '4242', vmId },
      { kind: 'tap', ref: tapNameOf(vmId), vmId },
      { kind: 'socket', ref: `/run/hearth/${vmId}/fc.sock`, vmId },
      { kind: 'rootfs', ref: `/run/hearth/${vmId}/rootfs.ext4`, vmId },
      { kind: 'directory', ref: `/run/hearth/${vmId}`, vmId },
    ];
  }
}

/** A console connection of the fake Agent: `print` is guest output, `typed` what reached the guest. */
export class FakeConsoleConnection implements AgentConsoleConnection {
  typed = '';
  isClosed = false;
  private readonly outputListeners: ((bytes: Uint8Array) => void)[] = [];
  private readonly closeListeners: ((reason: ConsoleCloseReason | undefined) => void)[] = [];
  private pending: string;

  constructor(
    readonly vmId: VmId,
    backlog: string,
  ) {
    this.pending = backlog;
  }

  send(bytes: Uint8Array): void {
    if (!this.isClosed) this.typed += Buffer.from(bytes).toString('latin1');
  }

  onOutput(listener: (bytes: Uint8Array) => void): void {
    this.outputListeners.push(listener);
    if (this.pending !== '') {
      const backlog = this.pending;
      this.pending = '';
      this.print(backlog);
    }
  }

  onClose(listener: (reason: ConsoleCloseReason | undefined) => void): void {
    this.closeListeners.push(listener);
  }

  close(): void {
    this.end(undefined);
  }

  print(text: string): void {
    for (const listener of this.outputListeners) listener(Buffer.from(text, 'latin1'));
  }

  /** The Agent ends the connection (with its reason), or it drops (undefined). */
  end(reason: ConsoleCloseReason | undefined): void {
    if (this.isClosed) return;
    this.isClosed = true;
    for (const listener of this.closeListeners) listener(reason);
  }
}
