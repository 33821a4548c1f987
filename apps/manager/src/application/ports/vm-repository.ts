import type { HostId, ImageId, SnapshotId, VmId } from '../../domain/ids.js';
import type { FailureReason, PendingRestore, Vm, VmListing, VmStep } from '../../domain/vm.js';
import type { ObservedVmState, VmState } from '../../domain/vm-state.js';
import type { ProjectSet } from '../../domain/access.js';
import type { HostAllocation, HostStanding } from '../../domain/placement.js';
import type { ProjectQuota, ProjectUsage } from '../../domain/project.js';
import type { LeaseRequest } from '../../domain/address-pool.js';
import type { EgressPolicy } from '../../domain/egress.js';
import type { RateLimits } from '../../domain/rate-limits.js';
import type { PublishedPort, TakenPort } from '../../domain/published-ports.js';

/** A state change, written together with its event row (never one without the other). */
export interface VmStateChange {
  readonly from: VmState;
  /**
   * States passed through on the way from `from` to `to`, in order, in the same transaction: each
   * step is a change of its own (one event and one version each), e.g. `pending → scheduled →
   * starting` when nothing happens between them.
   */
  readonly via?: readonly VmState[];
  readonly to: VmState;
  readonly at: Date;
  /** When given, the change happens only if the record still has this version (else PRECONDITION_FAILED). */
  readonly ifVersion?: number | undefined;
  /** Replaces the failure reason; omitted leaves it unchanged. */
  readonly failureReason?: FailureReason | null;
  /** Replaces the recorded steps and total duration; omitted leaves them unchanged. */
  readonly steps?: readonly VmStep[];
  readonly totalMs?: number | null;
  /** Free text stored on the event. */
  readonly message?: string;
  /** Replaces the restore in place the VM's next start does (null: none); omitted leaves it unchanged. */
  readonly pendingRestore?: PendingRestore | null;
  /**
   * The snapshot the VM's VMM maps from now on (a start by restore reached running or paused);
   * omitted: as `mappedSnapshotAfter` says (none once the VM stops or starts again, else unchanged).
   */
  readonly mappedSnapshotId?: SnapshotId | null;
  /**
   * What the host's Agent reported of the VMM with this change (the state an apply answered with):
   * recorded as the observed state at `at`, with a `vm.observed_state_changed` event when it differs
   * from the one recorded, as `recordObservation` records it; omitted leaves it unchanged.
   */
  readonly observedState?: ObservedVmState;
}

export interface VmPage {
  readonly items: readonly VmListing[];
  /** The id to pass as `afterId` for the next page; null on the last page. */
  readonly nextCursor: VmId | null;
}

/** A new egress policy for a VM, written with its event (never one without the other). */
export interface VmEgressChange {
  readonly egress: EgressPolicy;
  readonly at: Date;
  /** When given, the change happens only if the record still has this version (else PRECONDITION_FAILED). */
  readonly ifVersion?: number | undefined;
}

/** New rate limits for a VM, written with their event (never one without the other). */
export interface VmRateLimitsChange {
  readonly rateLimits: RateLimits;
  readonly at: Date;
  /** When given, the change happens only if the record still has this version (else PRECONDITION_FAILED). */
  readonly ifVersion?: number | undefined;
}

/** What a new VM's project already holds, against its quota (every VM of the project counts, whatever its state). */
export interface ProjectHolding {
  readonly quota: ProjectQuota;
  readonly usage: ProjectUsage;
}

/** Which VMs a list shows. */
export interface VmListFilter {
  /** Only VMs of these projects. */
  readonly projects: ProjectSet;
  /** Only the VM of this name (names are unique within a project). */
  readonly name?: string | undefined;
}

/** The VM records: the Manager's memory of what it asked every host to do. */
/**
 * A VM to insert. Without `guestMac` the insert takes the next one from the sequence behind
 * `allocateGuestMac`, in the statement that writes the row (one round trip less per create).
 */
export type NewVm = Omit<Vm, 'guestMac'> & {
  readonly guestMac?: string | undefined;
  /**
   * States the VM passes through, in order, before `state`, written by the insert itself: its
   * `vm.created` event names the first, and each step from there to `state` has its
   * `vm.state_changed` event, as a transition along that path would write them (each step allowed
   * by the state machine; `version` counts them, as a transition's would). Default: none, the VM is
   * created in `state`.
   */
  readonly via?: readonly VmState[] | undefined;
};

/**
 * Judges a VM's admission on its host, with the host and the project locked: what the host's VMs
 * and the project already hold, and the host's standing as committed now (null when its row is
 * gone). Throws to refuse the VM.
 */
export type Admit = (hostAllocation: HostAllocation, project: ProjectHolding, standing: HostStanding | null) => void;

export interface VmRepository {
  /**
   * Inserts a new VM (with a `vm.created` event). Throws VM_NAME_TAKEN when the name is in use in
   * its project, PROJECT_NOT_FOUND when the project is gone. `admit`, when given, sees what the
   * VM's host and its project already hold, and the host's standing, and may throw to refuse the
   * VM; it runs with both locked, so concurrent inserts can overbook neither the host nor the
   * project's quota.
   *
   * `lease`, when given, leases the VM an address of its pool in the same transaction (after
   * `admit`; a refusal leases nothing) and answers the VM with its `network`: the one asked for
   * (ADDRESS_TAKEN when another VM holds it or it is still quarantined) or the lowest free one, else
   * the one released longest ago whose quarantine is over (ADDRESS_POOL_EXHAUSTED when none is).
   * No two VMs ever hold one address, whichever Manager inserts them; `delete` releases it.
   */
  /**
   * Also records the VM's published ports on its host in the same transaction: HOST_PORT_TAKEN when
   * another VM publishes one of them there, whichever Manager inserted it (a uniqueness constraint
   * on host, protocol and port). `delete` frees them.
   */
  insert(vm: NewVm, admit?: Admit, lease?: LeaseRequest): Promise<Vm>;
  /**
   * `insert` of several VMs of one host and one project, all or none: `admit` sees what the host and
   * the project held before any of them, each VM gets its own address, and a refusal of any (by
   * `admit`, a taken name, an exhausted pool) inserts and leases nothing. Clones (`restoredFrom`
   * set) hold their snapshot's row (shared) while they are written: SNAPSHOT_NOT_FOUND when it is
   * gone, SNAPSHOT_NOT_READY when it is not ready, so a snapshot's removal never passes them.
   */
  insertAll(vms: readonly NewVm[], admit?: Admit, lease?: LeaseRequest): Promise<Vm[]>;
  /**
   * Allocates a guest MAC no VM has had from this repository (a database sequence), for a VM about
   * to be inserted; the VM keeps it for life. `insert` refuses a MAC another VM has (unique column).
   * A VM given to `insert` without a MAC takes the next one there, in the same round trip.
   */
  allocateGuestMac(): Promise<string>;
  /**
   * The VMs whose next start still restores the snapshot: clones of it that have not run yet, and
   * VMs with a restore in place to it not finished.
   */
  listAwaitingRestore(snapshotId: SnapshotId): Promise<readonly VmId[]>;
  /** Which of these host ports (by protocol) VMs publish, on whatever host: placement avoids those hosts. */
  takenPorts(ports: readonly PublishedPort[]): Promise<readonly TakenPort[]>;
  findById(id: VmId): Promise<Vm | undefined>;
  findByName(project: string, name: string): Promise<Vm | undefined>;
  /** Keyset page ordered by id, each VM as the list shows it. */
  list(filter: VmListFilter, options: { readonly limit: number; readonly afterId?: VmId | undefined }): Promise<VmPage>;
  /** How many VMs are in each state (states without any are absent). */
  countByState(): Promise<ReadonlyMap<VmState, number>>;
  /** Every VM placed on the host, ordered by id (none when the host is unknown). */
  listOnHost(hostId: HostId): Promise<readonly Vm[]>;
  /**
   * Moves the VM from `change.from` (through `change.via`) to `change.to` only if it is still in
   * `change.from` (and has version `change.ifVersion`, when given), increments its version and
   * writes a `vm.state_changed` event per step, in the same transaction. Throws VM_NOT_FOUND when the row is gone, PRECONDITION_FAILED
   * when the version differs and VM_BUSY when its state is no longer `change.from`. A change that
   * records a restore (`pendingRestore`) holds the snapshot's row (shared) while it writes, and throws
   * SNAPSHOT_NOT_FOUND when it is gone and SNAPSHOT_NOT_READY when it is not ready: a snapshot's
   * removal and the restores recorded from it happen one after the other, never across each other.
   * A change to `deleting` locks the VM's ready snapshots' rows (FOR UPDATE) and throws what
   * `whyVmNotDeletable` says while other VMs still need one (to restore, or mapped) or a template carries one:
   * a clone or restore recorded at the same moment is either seen here or refused.
   */
  transition(id: VmId, change: VmStateChange): Promise<Vm>;
  /**
   * `transition` of several VMs by one change, in one statement: each of them still in
   * `change.from` moves, with its version and its events, and the others are left as they are (no
   * error: a caller reads them to see why). Answers the VMs moved, in no particular order. For
   * changes that only move states: none that records a restore, goes to `deleting` or checks a version.
   */
  transitionAll(ids: readonly VmId[], change: VmStateChange): Promise<Vm[]>;
  /**
   * Replaces the VM's egress policy (whatever its state) only if it still has version
   * `change.ifVersion` (when given), increments its version and writes a `vm.egress_changed` event,
   * in the same transaction. Throws VM_NOT_FOUND when the row is gone, PRECONDITION_FAILED when the
   * version differs.
   */
  setEgress(id: VmId, change: VmEgressChange): Promise<Vm>;
  /** Replaces the VM's rate limits as `setEgress` replaces its policy, with a `vm.rate_limits_changed` event. */
  setRateLimits(id: VmId, change: VmRateLimitsChange): Promise<Vm>;
  /**
   * Records what the Agent reported about the VMM (not a change of the record: the version stays).
   * Writes a `vm.observed_state_changed` event when the observed state differs from the last one.
   * Answers undefined when the row is gone.
   */
  recordObservation(id: VmId, observed: ObservedVmState, at: Date): Promise<Vm | undefined>;
  /**
   * Removes the row (its name becomes free), releases its address into quarantine and writes a
   * `vm.deleted` event. VM_NOT_FOUND when absent.
   */
  delete(id: VmId, at: Date): Promise<void>;
  /** True while any VM row references the image. */
  isImageInUse(imageId: ImageId): Promise<boolean>;
  /** CPU and memory held per host by VMs in resource-holding states (of the `hostIds` given, else of all). */
  allocationsByHost(hostIds?: readonly HostId[]): Promise<ReadonlyMap<HostId, HostAllocation>>;
}

/** Throws (a programming error) for a change `transitionAll` does not make: one that records a restore, goes to `deleting` or checks a version. */
export function assertStatesOnlyChange(change: VmStateChange): void {
  if (
    change.pendingRestore !== undefined ||
    change.to === 'deleting' ||
    change.ifVersion !== undefined ||
    change.observedState !== undefined
  ) {
    throw new Error('transitionAll moves states only: no restore, no deleting, no version, no observation');
  }
}
