import {
  isSamePublishedPorts,
  type HostResource,
  type PublishedPort,
  type SnapshotDigests,
  type VmSpec,
} from '@hearth/contracts';
import { AppError } from '@hearth/errors';
import type { EgressPolicy, GuestGuard } from './egress-rules.js';
import type { VmId } from './vm-id.js';

/** The record's own lifecycle, kept apart from what the VMM process reports (`VmmState`). */
export type VmLifecycle = 'applying' | 'running' | 'failed' | 'stopped';

const transitions: Readonly<Record<VmLifecycle, readonly VmLifecycle[]>> = {
  applying: ['applying', 'running', 'failed', 'stopped'],
  running: ['applying', 'stopped'],
  failed: ['applying', 'stopped'],
  stopped: ['applying', 'stopped'],
};

export function canTransition(from: VmLifecycle, to: VmLifecycle): boolean {
  return transitions[from].includes(to);
}

export type SpawnMode = 'direct' | 'systemd-run';

/** A Firecracker process the Agent started. `startTime` (field 22 of /proc/<pid>/stat) guards against pid reuse. */
export interface VmmProcessRecord {
  readonly pid: number;
  readonly startTime: number;
  readonly spawnMode: SpawnMode;
  /** systemd unit name in systemd-run mode. */
  readonly unit: string | null;
  /** Firecracker accepts PUT /metrics once per process. */
  readonly isMetricsConfigured: boolean;
  /**
   * Its working directory is the VM's directory, and its disk was given by a path relative to it
   * (`rootfs.ext4`). Absent for processes spawned before: their disk was given by absolute path.
   */
  readonly isInVmDirectory?: boolean;
  /**
   * The snapshot whose memory this process's dirty-page log starts from: the last one it took, or
   * the one of this VM it was restored from. A diff is only taken on top of it (the dirty log holds
   * what the guest wrote since, nothing older). Absent for a process that booted, was restored
   * from another VM's snapshot, or whose last snapshot failed: its next snapshot is full.
   */
  readonly memoryBaseSnapshotId?: string;
}

export interface TapRecord {
  readonly name: string;
  readonly bridge: string;
}

export interface RootfsRecord {
  readonly path: string;
  readonly sourcePath: string;
  /** Null while the copy is in progress (recorded before `cp` runs). */
  readonly sizeBytes: number | null;
}

/**
 * A snapshot of the VM, its three files in the VM's directory. Recorded `creating` before any of
 * them is written, so that a crash in between leaves files the record names (and removes); `ready`
 * once every file is complete.
 */
export interface SnapshotRecord {
  readonly id: string;
  readonly state: 'creating' | 'ready';
  /** A diff's memory file holds only what the guest wrote since its parent (absent: full). */
  readonly type?: 'full' | 'diff';
  /** The snapshot of the same VM a diff is taken on top of. */
  readonly parentId?: string;
  readonly statePath: string;
  readonly memoryPath: string;
  readonly rootfsPath: string;
  /**
   * True when taking it paused a running guest that is to run again afterwards: an Agent that
   * restarts and finds the snapshot still `creating` resumes that guest.
   */
  readonly resumeAfter?: boolean;
  /** How long the guest was paused for it, once `ready`. */
  readonly pauseMs?: number;
  /** The version of the VMM that wrote it, once `ready`. */
  readonly vmmVersion?: string;
  /** Each file's SHA-256, taken before it became `ready` (absent for snapshots taken before digests were). */
  readonly digests?: SnapshotDigests;
  /**
   * Its device state names the VM's disk relative to the VMM's working directory, so a VM restored
   * from it opens its own copy. Snapshots of VMMs that were given an absolute path are not: a VM
   * restored from one would open the source VM's disk.
   */
  readonly isRelocatable?: boolean;
}

/**
 * The VM's egress chain in Hearth's nftables table, recorded before the script that writes it runs:
 * a rule on the host is always named by a record, so a crash never leaves one nobody removes.
 */
export interface EgressRecord {
  readonly table: string;
  readonly address: string;
  readonly policy: EgressPolicy;
  /** The host ports published to the guest (elements of the `ports` map); absent when none. */
  readonly ports?: readonly PublishedPort[];
  /** The guard of the guest's TAP in the bridge table (its MAC, address and shared network); absent before its TAP existed. */
  readonly guard?: GuestGuard;
  /**
   * True when only the guard was written (an Agent without egress through NAT): nothing in the `ip`
   * table, and `policy` is not enforced. Absent: the `ip` table holds the VM's chain and elements.
   */
  readonly isGuardOnly?: true;
}

/** How the host resource ledger names a VM's rules: its chain in the `ip` table, or in the `bridge` table when it has only a guard. */
export function nftRuleRef(egress: Pick<EgressRecord, 'table' | 'isGuardOnly'>, vmId: string): string {
  return `${egress.isGuardOnly === true ? 'bridge' : 'ip'} ${egress.table} ${vmId}`;
}

/**
 * The ledger of one VM: every side effect on the host is written here (atomically) before the next
 * step runs, so a restarted Agent can re-adopt the VM and delete can undo everything.
 */
export interface VmRecord {
  readonly schemaVersion: 1;
  readonly vmId: VmId;
  readonly lifecycle: VmLifecycle;
  readonly spec: VmSpec | null;
  readonly directory: string;
  readonly tap: TapRecord | null;
  readonly rootfs: RootfsRecord | null;
  readonly process: VmmProcessRecord | null;
  readonly socketPath: string | null;
  readonly fifoPath: string | null;
  /**
   * The FIFO the VMM reads as its stdin (the guest's serial input), recorded before it is created.
   * Absent in records written before the console took input.
   */
  readonly consoleFifoPath?: string | null;
  readonly logPaths: readonly string[];
  /**
   * Files inside the VM's directory that requests proxied to Firecracker create (snapshots, memory
   * files, logs, metrics, sockets), recorded before the request is forwarded. Absent in records
   * written before the proxy recorded them.
   */
  readonly proxyFiles?: readonly string[];
  /** Snapshots taken of the VM (absent in records written before snapshots existed). */
  readonly snapshots?: readonly SnapshotRecord[];
  /** The egress chain written on the host; absent in records written before egress was managed. */
  readonly egress?: EgressRecord | null;
  /** The VM's egress policy, kept across stops; absent means allow all. */
  readonly egressPolicy?: EgressPolicy;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/**
 * A VM directory whose record could not be read at start (torn, of a newer format, naming another
 * VM or directory, or missing beside other files). Everything in it is left in place: nothing of
 * the VM may be removed without a record that says it may be.
 */
export interface UnreadableVmRecord {
  readonly vmId: VmId;
  readonly directory: string;
  readonly reason: string;
}

/** VM_NOT_FOUND: the Agent holds nothing of the VM, neither a record nor an unreadable one. */
export function vmNotFoundError(vmId: VmId): AppError {
  return new AppError('VM_NOT_FOUND', `This Agent has no record of VM ${vmId}`, { details: { vmId } });
}

/** VM_RECORD_UNREADABLE: what any change to a VM with an unreadable record answers. */
export function unreadableRecordError(unreadable: UnreadableVmRecord): AppError {
  return new AppError(
    'VM_RECORD_UNREADABLE',
    `The record of VM ${unreadable.vmId} cannot be read (${unreadable.reason}); its files in ${unreadable.directory} are left in place`,
    { details: { vmId: unreadable.vmId, directory: unreadable.directory, reason: unreadable.reason } },
  );
}

export function newVmRecord(vmId: VmId, directory: string, now: Date): VmRecord {
  const at = now.toISOString();
  return {
    schemaVersion: 1,
    vmId,
    lifecycle: 'applying',
    spec: null,
    directory,
    tap: null,
    rootfs: null,
    process: null,
    socketPath: null,
    fifoPath: null,
    logPaths: [],
    proxyFiles: [],
    createdAt: at,
    updatedAt: at,
  };
}

export function updateRecord(
  record: VmRecord,
  change: Partial<Omit<VmRecord, 'vmId' | 'schemaVersion' | 'createdAt' | 'updatedAt' | 'directory'>>,
  now: Date,
): VmRecord {
  if (change.lifecycle !== undefined && !canTransition(record.lifecycle, change.lifecycle)) {
    throw new AppError('VM_INVALID_TRANSITION', `VM ${record.vmId} cannot go from ${record.lifecycle} to ${change.lifecycle}`, {
      details: { from: record.lifecycle, to: change.lifecycle },
    });
  }
  return { ...record, ...change, updatedAt: now.toISOString() };
}

export function withLogPath(record: VmRecord, path: string, now: Date): VmRecord {
  return record.logPaths.includes(path) ? record : updateRecord(record, { logPaths: [...record.logPaths, path] }, now);
}

export function proxyFilesOf(record: Pick<VmRecord, 'proxyFiles'>): readonly string[] {
  return record.proxyFiles ?? [];
}

export function snapshotsOf(record: Pick<VmRecord, 'snapshots'>): readonly SnapshotRecord[] {
  return record.snapshots ?? [];
}

/** The record's snapshots with `snapshot` in place of the one of its id (added when new). */
export function withSnapshot(record: Pick<VmRecord, 'snapshots'>, snapshot: SnapshotRecord): readonly SnapshotRecord[] {
  return [...snapshotsOf(record).filter((s) => s.id !== snapshot.id), snapshot];
}

export function withoutSnapshot(record: Pick<VmRecord, 'snapshots'>, id: string): readonly SnapshotRecord[] {
  return snapshotsOf(record).filter((s) => s.id !== id);
}

/**
 * Every rule an egress entry says Hearth's table holds for the VM: its chain with its `egress` and
 * `guests` elements (`ip <table> <vm id>`), each published port (`ip <table> ports tcp . 8080`), and
 * the guard of its TAP in the bridge table (`bridge <table> <vm id>`). All of them carry the VM id.
 */
export function egressResources(vmId: string, egress: EgressRecord): HostResource[] {
  if (egress.isGuardOnly === true) return [{ kind: 'nft_rule', ref: nftRuleRef(egress, vmId), vmId }];
  return [
    { kind: 'nft_rule', ref: nftRuleRef(egress, vmId), vmId },
    ...(egress.ports ?? []).map((port): HostResource => ({
      kind: 'nft_rule',
      ref: `ip ${egress.table} ports ${port.protocol} . ${port.hostPort}`,
      vmId,
    })),
    ...(egress.guard === undefined ? [] : [{ kind: 'nft_rule' as const, ref: `bridge ${egress.table} ${vmId}`, vmId }]),
  ];
}

/** Everything the record says exists on the host, in the order delete removes it. */
export function recordedResources(record: VmRecord): HostResource[] {
  const vmId = record.vmId;
  const resources: HostResource[] = [];
  if (record.process !== null) resources.push({ kind: 'process', ref: String(record.process.pid), vmId });
  if (record.tap !== null) resources.push({ kind: 'tap', ref: record.tap.name, vmId });
  const egress = record.egress ?? null;
  if (egress !== null) resources.push(...egressResources(vmId, egress));
  if (record.socketPath !== null) resources.push({ kind: 'socket', ref: record.socketPath, vmId });
  if (record.fifoPath !== null) resources.push({ kind: 'fifo', ref: record.fifoPath, vmId });
  const consoleFifoPath = record.consoleFifoPath ?? null;
  if (consoleFifoPath !== null) resources.push({ kind: 'fifo', ref: consoleFifoPath, vmId });
  if (record.rootfs !== null) resources.push({ kind: 'rootfs', ref: record.rootfs.path, vmId });
  for (const path of record.logPaths) resources.push({ kind: 'log', ref: path, vmId });
  for (const path of proxyFilesOf(record)) resources.push({ kind: 'file', ref: path, vmId });
  for (const snapshot of snapshotsOf(record)) resources.push({ kind: 'snapshot', ref: snapshot.id, vmId });
  resources.push({ kind: 'directory', ref: record.directory, vmId });
  return resources;
}

/**
 * True when a re-PUT (`b`) asks for exactly what is already applied (`a`). A re-PUT that asks for a
 * restore asks for the same only when the VMM was started by that restore.
 */
export function isSameSpec(a: VmSpec, b: VmSpec): boolean {
  return (
    (b.restoreFrom === undefined ||
      (a.restoreFrom?.vmId === b.restoreFrom.vmId && a.restoreFrom.snapshotId === b.restoreFrom.snapshotId)) &&
    a.vcpuCount === b.vcpuCount &&
    a.memoryMib === b.memoryMib &&
    a.kernelPath === b.kernelPath &&
    a.rootfsSourcePath === b.rootfsSourcePath &&
    a.bootArgs === b.bootArgs &&
    a.guestMac.toLowerCase() === b.guestMac.toLowerCase() &&
    a.isMetricsEnabled === b.isMetricsEnabled &&
    JSON.stringify(a.guest ?? null) === JSON.stringify(b.guest ?? null) &&
    isSamePublishedPorts(a.ports ?? [], b.ports ?? []) &&
    (a.sharedNetwork ?? null) === (b.sharedNetwork ?? null)
  );
}
