import type { HostId, ImageId, SnapshotId, TemplateId, VmId } from './ids.js';
import type { ObservedVmState, VmState } from './vm-state.js';
import type { RestartPolicy } from './restart-policy.js';
import type { VmNetwork } from './address-pool.js';
import type { EgressPolicy } from './egress.js';
import type { PublishedPort } from './published-ports.js';
import type { RateLimits } from './rate-limits.js';

export const defaultBootArgs = 'console=ttyS0 reboot=k panic=1 pci=off';

/** Names are DNS-label-like: safe in paths, unit names and logs; no shell metacharacters. */
export const vmNamePattern = '^[a-z0-9][a-z0-9-]{0,62}$';
export const vmNameMaxLength = 63;
const vmNameRegExp = new RegExp(vmNamePattern);

export const vcpuCountRange = { minimum: 1, maximum: 32 } as const;
export const memoryMibRange = { minimum: 128, maximum: 1_048_576 } as const;

export function isValidVmName(name: string): boolean {
  return vmNameRegExp.test(name);
}

/** Why a VM ended up `failed`: the code of the error and its message. */
export interface FailureReason {
  readonly code: string;
  readonly message: string;
}

export interface VmStep {
  readonly name: string;
  readonly durationMs: number;
  /** When the step started, as far as the Manager can tell. */
  readonly at: Date;
}

export interface Vm {
  readonly id: VmId;
  readonly name: string;
  /** The project that owns it; its name is unique within the project. */
  readonly project: string;
  readonly state: VmState;
  readonly hostId: HostId;
  readonly vcpuCount: number;
  readonly memoryMib: number;
  readonly kernelImageId: ImageId;
  readonly rootfsImageId: ImageId;
  readonly kernelPath: string;
  readonly rootfsPath: string;
  readonly bootArgs: string;
  readonly guestMac: string;
  /** The address leased to it, its gateway and DNS servers; null for VMs made before addresses were leased. */
  readonly network: VmNetwork | null;
  /** Served to the guest by MMDS (`latest/user-data`); null when none was given. */
  readonly userData: string | null;
  /** What the guest may send beyond its host; sent to the Agent with every start and on every change. */
  readonly egress: EgressPolicy;
  /** Host ports forwarded to the guest on its host, kept for the VM's life; empty when none. */
  readonly ports: readonly PublishedPort[];
  /** The shared network of its project the guest joined (it reaches the guests of its host that joined it too); null: none. */
  readonly sharedNetwork: string | null;
  /** Firecracker rate limiters of its network interface and drive; `{}`: nothing is limited. */
  readonly rateLimits: RateLimits;
  readonly isMetricsEnabled: boolean;
  readonly failureReason: FailureReason | null;
  readonly steps: readonly VmStep[];
  readonly totalMs: number | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  /** Incremented on every change of the record; the API's ETag (`"<version>"`). */
  readonly version: number;
  /** What the host's Agent last reported about the VMM process; null until it is first observed. */
  readonly observedState: ObservedVmState | null;
  readonly observedAt: Date | null;
  /** What the reconciler does when the VMM dies on its own. */
  readonly restartPolicy: RestartPolicy;
  /** The template the VM was created from and its version then (its values were copied); null for none. */
  readonly templateId: TemplateId | null;
  readonly templateVersion: number | null;
  /**
   * The snapshot the VM was cloned from, and the VM it was taken of; null for a VM that booted. Until
   * the VM has run once (`totalMs` null) it starts by restoring that snapshot; after, it boots from
   * its own disk like any VM.
   */
  readonly restoredFrom: { readonly snapshotId: SnapshotId; readonly vmId: VmId } | null;
  /**
   * A restore in place asked for and not finished: the VM's next start restores this snapshot of
   * its own (its disk replaced by the snapshot's copy) instead of booting, and leaves the guest
   * paused when `isPaused`. Cleared once a start reaches running (or paused); null otherwise.
   */
  readonly pendingRestore: PendingRestore | null;
  /**
   * The snapshot whose memory file the VM's VMM maps: set when a start by restore reaches running
   * or paused, null once that VMM is gone for good (see `mappedSnapshotAfter`) and for a VM that booted.
   */
  readonly mappedSnapshotId: SnapshotId | null;
}

/** A step of a VM's last start as a list shows it: its start as an ISO 8601 string. */
export interface VmListedStep {
  readonly name: string;
  readonly durationMs: number;
  readonly at: string;
}

/**
 * A VM as a list shows it, what the API writes of one: its record without the user data (only the
 * guest reads it back) and the snapshot its VMM maps, and its instants written as `toISOString`
 * writes them (UTC, milliseconds). A page of the list is read in this shape, so that each VM is one
 * object from the database's row to the response (ADR 0077).
 */
export interface VmListing extends Omit<
  Vm,
  'userData' | 'mappedSnapshotId' | 'steps' | 'createdAt' | 'updatedAt' | 'observedAt'
> {
  readonly steps: readonly VmListedStep[];
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly observedAt: string | null;
}

/** The VM as a list shows it (field by field, without copying the nested values: it is only written). */
export function vmListingOf(vm: Vm): VmListing {
  return {
    id: vm.id,
    name: vm.name,
    project: vm.project,
    state: vm.state,
    hostId: vm.hostId,
    vcpuCount: vm.vcpuCount,
    memoryMib: vm.memoryMib,
    kernelImageId: vm.kernelImageId,
    rootfsImageId: vm.rootfsImageId,
    kernelPath: vm.kernelPath,
    rootfsPath: vm.rootfsPath,
    bootArgs: vm.bootArgs,
    guestMac: vm.guestMac,
    network: vm.network,
    egress: vm.egress,
    ports: vm.ports,
    sharedNetwork: vm.sharedNetwork,
    rateLimits: vm.rateLimits,
    isMetricsEnabled: vm.isMetricsEnabled,
    failureReason: vm.failureReason,
    steps: vm.steps.map((step) => ({ name: step.name, durationMs: step.durationMs, at: step.at.toISOString() })),
    totalMs: vm.totalMs,
    createdAt: vm.createdAt.toISOString(),
    updatedAt: vm.updatedAt.toISOString(),
    version: vm.version,
    observedState: vm.observedState,
    observedAt: vm.observedAt === null ? null : vm.observedAt.toISOString(),
    restartPolicy: vm.restartPolicy,
    templateId: vm.templateId,
    templateVersion: vm.templateVersion,
    restoredFrom: vm.restoredFrom,
    pendingRestore: vm.pendingRestore,
  };
}

/** A restore in place of a VM to one of its own snapshots, recorded before its host is asked. */
export interface PendingRestore {
  readonly snapshotId: SnapshotId;
  /** The guest stays paused after the restore (else it runs). */
  readonly isPaused: boolean;
}

/**
 * The snapshot a VM's VMM maps after a change along `path` (its previous state first): the one the
 * change names (a start by restore that reached running or paused), none once the VM stopped or
 * starts again (a new VMM, which boots or maps what its restore names), else unchanged (undefined).
 * A VM that failed or is unknown may still have its VMM, so it keeps the mapping until one of those.
 */
export function mappedSnapshotAfter(
  path: readonly VmState[],
  named: SnapshotId | null | undefined,
): SnapshotId | null | undefined {
  if (named !== undefined) return named;
  return path.slice(1).some((state) => state === 'stopped' || state === 'starting') ? null : undefined;
}

/** True while a VM cloned from a snapshot has not run yet: its start restores the snapshot. */
export function isRestorePending(vm: Pick<Vm, 'restoredFrom' | 'totalMs'>): boolean {
  return vm.restoredFrom !== null && vm.totalMs === null;
}

/**
 * The snapshot the VM's next start restores, and the VM it was taken of: its own snapshot for a
 * restore in place, else the snapshot a clone that has not run yet was cloned from; undefined: boot.
 */
export function snapshotToRestore(
  vm: Pick<Vm, 'id' | 'restoredFrom' | 'totalMs' | 'pendingRestore'>,
): { readonly snapshotId: SnapshotId; readonly vmId: VmId; readonly isPaused: boolean } | undefined {
  if (vm.pendingRestore !== null)
    return { snapshotId: vm.pendingRestore.snapshotId, vmId: vm.id, isPaused: vm.pendingRestore.isPaused };
  if (vm.restoredFrom !== null && isRestorePending(vm)) return { ...vm.restoredFrom, isPaused: false };
  return undefined;
}

/**
 * Guest MACs are allocated, one serial each, never derived: `06:` (locally administered, unicast)
 * followed by the serial in 5 bytes. Serials start above every MAC that older Managers derived from
 * the VM id (`06:00:…`), so allocated and derived MACs never meet.
 */
export const guestMacSerialRange = { first: 2 ** 32, last: 2 ** 40 - 1 } as const;

/** The MAC of an allocated serial, e.g. `06:01:00:00:00:07`. */
export function guestMacOf(serial: number): string {
  if (!Number.isInteger(serial) || serial < guestMacSerialRange.first || serial > guestMacSerialRange.last) {
    throw new RangeError(`guest MAC serial ${serial} is out of range`);
  }
  const hex = serial.toString(16).padStart(10, '0');
  return ['06', ...(hex.match(/../g) ?? [])].join(':');
}
