import type {
  AgentVm,
  ApplyVmResult,
  CleanupResult,
  CreateSnapshotRequest,
  EgressPolicy,
  EgressPolicyResult,
  Inventory,
  InventoryQuery,
  RateLimits,
  RateLimitsResult,
  SnapshotCopyRequest,
  SnapshotResult,
  VmSpec,
} from '@hearth/contracts';
import type { ConsoleCloseReason } from '@hearth/contracts';
import type { SnapshotId, VmId } from '../../domain/ids.js';
import type { SnapshotFileEncoding } from '../../domain/snapshot-compatibility.js';

/** A live connection to a VM's serial console on its host's Agent. */
export interface AgentConsoleConnection {
  /** Bytes typed by the client, for the guest's serial input. */
  send(bytes: Uint8Array): void;
  /** Calls `listener` with each chunk of serial output (the requested backlog first). */
  onOutput(listener: (bytes: Uint8Array) => void): void;
  /** Calls `listener` once when the connection ends: with the Agent's reason, or undefined when it dropped. */
  onClose(listener: (reason: ConsoleCloseReason | undefined) => void): void;
  close(): void;
}

/**
 * A host's Agent's Prometheus metrics (text exposition format 0.0.4), as it answers them: passed on
 * chunk by chunk, never held whole. The body may still fail part-way (the Agent gone, time out).
 */
export interface AgentMetricsText {
  readonly body: AsyncIterable<Uint8Array>;
}

/**
 * An inventory read that names the inventory already held (see `AgentClient.inventoryIfChanged`):
 * either the Agent's inventory and its tag, or word that it is still the one named.
 */
export type InventoryAnswer =
  | {
      readonly kind: 'changed';
      readonly inventory: Inventory;
      /** Names this inventory for the next read; undefined from an Agent that tags none. */
      readonly tag: string | undefined;
    }
  | { readonly kind: 'unchanged' };

/** How an Agent stops a VM (see `AgentClient.stopVm`). */
export interface StopVmOptions {
  readonly isNetworkKept?: boolean;
}

/** Where a host's Agent listens, and who it must be (a `Host` is one). */
export interface AgentTarget {
  readonly addr: string;
  /** The host's Agent identity and credential: a call over TLS reaches only a certificate naming both. */
  readonly agentId?: string | null;
  readonly credentialId?: string | null;
}

/**
 * Drives the Agent of one host. Failures are AppErrors: the Agent's own codes (FIRECRACKER_REJECTED,
 * VM_NOT_FOUND, VM_CLEANUP_INCOMPLETE, …), AGENT_UNAVAILABLE when it cannot be reached in time, and
 * AGENT_REJECTED for an answer that is not part of the contract.
 */
export interface AgentClient {
  applyVm(target: AgentTarget, vmId: VmId, spec: VmSpec): Promise<ApplyVmResult>;
  /**
   * Opens connections to the Agent ahead of `count` calls about to go to it together (the applies
   * of clones being admitted), so that their handshakes are done before the Agent is busy with the
   * first of them. Best effort and at once: it waits for nothing and throws nothing; a call that
   * finds none connects itself.
   */
  openConnections(target: AgentTarget, count: number): void;
  /**
   * Kills the VM's VMM and removes what it held on the host but its rootfs copy. With
   * `isNetworkKept` (a stop on the way to a restore in place), its TAP and its entry in Hearth's
   * tables stay for the restore's apply; an Agent that predates it removes them too, which the apply
   * makes again.
   */
  stopVm(target: AgentTarget, vmId: VmId, options?: StopVmOptions): Promise<CleanupResult>;
  deleteVm(target: AgentTarget, vmId: VmId): Promise<CleanupResult>;
  /** Pauses the guest's vCPUs (Firecracker `PATCH /vm {state: Paused}`); pausing a paused VM is fine. */
  pauseVm(target: AgentTarget, vmId: VmId): Promise<void>;
  /** Resumes a paused guest (`PATCH /vm {state: Resumed}`); resuming a running VM is fine. */
  resumeVm(target: AgentTarget, vmId: VmId): Promise<void>;
  /**
   * A full snapshot of a running or paused VM, in one call: pause, state and memory, the disk copied
   * while paused, then back to its state or stopped (`request.afterwards`). Taking it again answers it.
   */
  snapshotVm(target: AgentTarget, vmId: VmId, snapshotId: SnapshotId, request: CreateSnapshotRequest): Promise<SnapshotResult>;
  /** Removes a snapshot's files; an unknown snapshot removes nothing. */
  deleteSnapshot(target: AgentTarget, vmId: VmId, snapshotId: SnapshotId): Promise<CleanupResult>;
  /**
   * Brings a snapshot's files from `source` (which holds it ready: taken there, or a ready copy) to
   * `target`, each file checked there against its SHA-256 as it arrives: SNAPSHOT_DIGEST_MISMATCH
   * when one differs (the target keeps nothing of that file). Files the target holds already are
   * not sent again; a copy asked while the same one is under way waits for it. A diff's memory file
   * always travels as its data regions; the others as `encoding` says: as their data regions (only
   * what is not zero, to a target that takes them) or whole (to an older one). A source that
   * cannot send data regions sends them whole, which every target takes.
   */
  copySnapshot(
    source: AgentTarget,
    target: AgentTarget,
    snapshotId: SnapshotId,
    request: SnapshotCopyRequest,
    encoding: SnapshotFileEncoding,
  ): Promise<void>;
  /** Removes the target's copy of a snapshot taken elsewhere; an unknown copy removes nothing. */
  deleteSnapshotCopy(target: AgentTarget, snapshotId: SnapshotId): Promise<CleanupResult>;
  /**
   * Replaces the VM's egress policy on its host: a running VM's chain is rewritten at once, in one
   * transaction (`isApplied`); a VM that is not running keeps it for its next start. VM_NOT_FOUND
   * when the Agent holds no record of the VM.
   */
  setVmEgress(target: AgentTarget, vmId: VmId, policy: EgressPolicy): Promise<EgressPolicyResult>;
  /**
   * Replaces the VM's rate limits on its host: a running VM's drive and network interface are
   * changed at once (`isApplied`); a VM that is not running keeps them for its next start.
   * VM_NOT_FOUND when the Agent holds no record of the VM.
   */
  setVmRateLimits(target: AgentTarget, vmId: VmId, rateLimits: RateLimits): Promise<RateLimitsResult>;
  /**
   * Attaches to the VM's serial console: the last `backlogBytes` of its log, then live output, and
   * input. VM_NOT_FOUND without a record, VMM_NOT_RUNNING without a live VMM (before any byte).
   */
  attachConsole(target: AgentTarget, vmId: VmId, backlogBytes: number): Promise<AgentConsoleConnection>;
  /** The last `maxBytes` of the VM's serial console output, as text. */
  consoleLog(target: AgentTarget, vmId: VmId, maxBytes: number): Promise<string>;
  /**
   * The Agent's `GET /metrics`: every VMM flushes first, so its per-VM counters are up to now.
   * AGENT_UNAVAILABLE when its answer does not begin within the metrics timeout (or its body stalls).
   */
  metrics(target: AgentTarget): Promise<AgentMetricsText>;
  /**
   * Everything the Agent holds, per VM, with what it observes of each VMM (its ledger, not a guess).
   * With `resources: 'none'`, each VM's resource list is left out (an older Agent sends it anyway);
   * `holdsRuntimeResources` (or, from an older Agent, the list) says what the reconciler needs of it.
   */
  inventory(target: AgentTarget, query?: InventoryQuery): Promise<Inventory>;
  /**
   * The entry the inventory lists for one VM (its resource list included), read for that VM alone.
   * VM_NOT_FOUND when the Agent holds nothing of it (the inventory would not list it); a VM whose
   * record the Agent cannot read is answered as `unreadable`, as the inventory lists it. An older
   * Agent answers without the fields only its inventory had (`holdsRuntimeResources`, `egress`,
   * `rateLimits`), and VM_RECORD_UNREADABLE for an unreadable record.
   */
  describeVm(target: AgentTarget, vmId: VmId): Promise<AgentVm>;
  /**
   * `inventory`, unless the Agent's inventory is still the one `knownTag` names (a tag it answered
   * before, for the same query): then `unchanged`, and nothing is sent or parsed. A tag names one
   * inventory of one Agent process: it changes whenever anything the inventory reports changes, and
   * a restarted Agent never answers a tag of the process before it. An Agent that tags nothing
   * answers in full every time.
   */
  inventoryIfChanged(target: AgentTarget, knownTag: string | undefined, query?: InventoryQuery): Promise<InventoryAnswer>;
}
