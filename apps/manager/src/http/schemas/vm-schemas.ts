import {
  bootArgsMaxLength,
  bootArgsPattern,
  consoleAttachDefaultBacklogBytes,
  consoleLogDefaultBytes,
  consoleLogMaxBytes,
  EgressPolicy,
  HostResource,
  PublishedPorts,
  RateLimiter,
  RateLimits,
  userDataMaxLength,
} from '@hearth/contracts';
import { Type, type Static } from 'typebox';
import { vmIdPattern } from '../../domain/ids.js';
import { memoryMibRange, vcpuCountRange, vmNameMaxLength, vmNamePattern } from '../../domain/vm.js';
import type { ObservedVmState, VmState } from '../../domain/vm-state.js';
import { vmPageSize } from '../../application/use-cases/vm-queries.js';
import { waitTimeoutSeconds } from '../../application/use-cases/wait-for-vm-state.js';
import { cloneCountMaximum } from '../../application/use-cases/clone-vms.js';
import {
  ImageIdString,
  NewObjectProject,
  ProjectName,
  SnapshotIdString,
  TemplateIdString,
  Timestamp,
  VmIdString,
} from './common.js';

/**
 * The fields of a VM preset, each optional: a VM create or a template change may leave any out. A
 * VM created from a template gets the template's value of each one it leaves out.
 */
export const vmPresetFields = {
  vcpuCount: Type.Optional(Type.Integer(vcpuCountRange)),
  memoryMib: Type.Optional(Type.Integer(memoryMibRange)),
  kernelImageId: Type.Optional(ImageIdString),
  rootfsImageId: Type.Optional(ImageIdString),
  /**
   * Kernel command line; printable ASCII, short enough that what the host appends (root device,
   * `pci=off`, device declarations and the guest's `ip=` configuration) still fits Firecracker's
   * limit. Default `console=ttyS0 reboot=k panic=1 pci=off`.
   */
  bootArgs: Type.Optional(Type.String({ maxLength: bootArgsMaxLength, pattern: bootArgsPattern })),
  /** When the VMM dies on its own: `never` (stay failed), `on-failure` (default: restart, up to MANAGER_RESTART_MAX_ATTEMPTS in a row), `always`. */
  restartPolicy: Type.Optional(Type.Union([Type.Literal('never'), Type.Literal('on-failure'), Type.Literal('always')])),
  /**
   * What the guest may send beyond its host: `allow_all` (the default), `deny_all`, or an
   * `allow_list` / `deny_list` of at most 64 IPv4 CIDRs, each optionally narrowed to `tcp` or `udp`
   * and up to 16 ports. A VM's is changed later with `PUT /v1/vms/{id}/egress`.
   */
  egress: Type.Optional(EgressPolicy),
  /**
   * A network of the VM's project to share: guests on one host reach each other only when both
   * joined the same one (default: none, the guest reaches the host and beyond but no other guest;
   * `null` joins none whatever a template says).
   */
  sharedNetwork: Type.Optional(
    Type.Union([Type.String({ minLength: 1, maxLength: 63, pattern: '^[a-z0-9][a-z0-9-]*$' }), Type.Null()]),
  ),
  /**
   * Firecracker rate limiters: `networkRx` (what the guest receives), `networkTx` (what it sends)
   * and `drive` (its disk reads and writes), each a `bandwidth` bucket (bytes) and/or an `ops`
   * bucket (packets or disk requests): `size` tokens refilled every `refillTimeMs`, plus an
   * initial `oneTimeBurst`. Default: nothing is limited. A VM's are changed later with
   * `PATCH /v1/vms/{id}/rate-limits`.
   */
  rateLimits: Type.Optional(RateLimits),
};

export const CreateVmBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: vmNameMaxLength, pattern: vmNamePattern }),
    project: NewObjectProject,
    /**
     * A template of the VM's project to start from: its values are copied, and each of the fields
     * below that is given replaces the template's. Without one, `vcpuCount`, `memoryMib`,
     * `kernelImageId` and `rootfsImageId` are required. A template that carries a snapshot starts
     * the VM by restore, as `snapshotId` does: its size, images and boot arguments are then the
     * snapshot VM's (neither may be given), and `count` may be given.
     */
    templateId: Type.Optional(TemplateIdString),
    /**
     * A ready snapshot of the VM's project to start from by restore instead of boot (a clone): size,
     * images and boot arguments are its VM's, so neither `templateId` nor those fields may be given.
     * Each clone gets its own address, MAC, hostname (its name), MMDS identity and copy of the disk;
     * the snapshot's VM keeps running.
     */
    snapshotId: Type.Optional(SnapshotIdString),
    /**
     * With `snapshotId` (or a template that carries a snapshot): this many clones at once, named `<name>-1` … `<name>-<count>`, admitted all
     * or none, and answered as `{ items }`.
     */
    count: Type.Optional(Type.Integer({ minimum: 1, maximum: cloneCountMaximum })),
    ...vmPresetFields,
    /**
     * A free address of the pool for the guest (409 ADDRESS_TAKEN when another VM holds it or it was
     * released too recently); default: one is leased.
     */
    ipAddress: Type.Optional(Type.String({ maxLength: 15, format: 'ipv4' })),
    /** Served to the guest by MMDS as `latest/user-data`. */
    userData: Type.Optional(Type.String({ maxLength: userDataMaxLength })),
    /**
     * Host ports forwarded to the guest (DNAT from the host's addresses), at most 16, for the VM's
     * life. The VM goes only to a host with egress through NAT (else 503 PORTS_NEED_EGRESS) where no
     * other VM publishes one of them (else 409 HOST_PORT_TAKEN); a port out of range, given twice or
     * the TCP port of a host's Agent is 400.
     */
    ports: Type.Optional(PublishedPorts),
  },
  { additionalProperties: false },
);

/**
 * `PATCH /v1/vms/{id}/rate-limits`: each limiter given replaces the VM's own, `null` removes it,
 * one left out stays as it is.
 */
export const UpdateVmRateLimitsBody = Type.Object(
  {
    networkRx: Type.Optional(Type.Union([RateLimiter, Type.Null()])),
    networkTx: Type.Optional(Type.Union([RateLimiter, Type.Null()])),
    drive: Type.Optional(Type.Union([RateLimiter, Type.Null()])),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const ListVmsQuery = Type.Object(
  {
    /** Only this project's VMs (default: those of every project of the token). */
    project: Type.Optional(ProjectName),
    /** Only the VM of this name (one per project; the same name may be taken in several projects). */
    name: Type.Optional(Type.String({ minLength: 1, maxLength: vmNameMaxLength })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: vmPageSize.maximum, default: vmPageSize.default })),
    /** `nextCursor` of the previous page. */
    cursor: Type.Optional(VmIdString),
  },
  { additionalProperties: false },
);

export const CreateVmQuery = Type.Object(
  {
    /** false: answer 202 with the VM `pending` at once (like `Prefer: respond-async`). Default true. */
    wait: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

/** `POST /v1/vms/{id}/restore`: which of the VM's own snapshots, and what the guest does afterwards. */
export const RestoreVmBody = Type.Object(
  {
    snapshotId: SnapshotIdString,
    /** `running` (default): the restored guest runs; `paused`: it stays paused (resume it later). */
    afterwards: Type.Optional(Type.Union([Type.Literal('running'), Type.Literal('paused')])),
  },
  { additionalProperties: false },
);

/** `POST /v1/vms/{id}/restore`: `wait=false` answers 202 once the restore is recorded. */
export const RestoreVmQuery = Type.Object(
  {
    /** false: answer 202 at once with the VM `stopping` or `starting` (like `Prefer: respond-async`). Default true. */
    wait: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const VmStateSchema = Type.Union([
  Type.Literal('pending'),
  Type.Literal('scheduled'),
  Type.Literal('starting'),
  Type.Literal('running'),
  Type.Literal('pausing'),
  Type.Literal('paused'),
  Type.Literal('stopping'),
  Type.Literal('stopped'),
  Type.Literal('failed'),
  Type.Literal('deleting'),
  Type.Literal('unknown'),
]);
export const ObservedVmStateSchema = Type.Union([
  Type.Literal('not_started'),
  Type.Literal('running'),
  Type.Literal('paused'),
  Type.Literal('exited'),
  Type.Literal('absent'),
  Type.Literal('unreadable'),
]);
// Compile-time checks that the schemas list exactly the domain's states.
type SchemaStates = Static<typeof VmStateSchema>;
const sameStates: [SchemaStates, VmState] extends [VmState, SchemaStates] ? true : never = true;
type SchemaObservedStates = Static<typeof ObservedVmStateSchema>;
const sameObserved: [SchemaObservedStates, ObservedVmState] extends [ObservedVmState, SchemaObservedStates] ? true : never = true;
void sameStates;
void sameObserved;

export const VmConsoleAttachQuery = Type.Object(
  {
    backlog: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: consoleLogMaxBytes,
        default: consoleAttachDefaultBacklogBytes,
        description: 'How many bytes of the end of the console log to send before live output.',
      }),
    ),
  },
  { additionalProperties: false },
);

export const VmConsoleAttachHeaders = Type.Object({
  'sec-websocket-protocol': Type.Optional(
    Type.String({
      maxLength: 4096,
      description:
        '`hearth.console.v1` (required when any subprotocol is offered), and for browsers, which cannot set ' +
        '`Authorization` on a WebSocket, `hearth.bearer.<base64url(token) without padding>` in its place.',
    }),
  ),
});

export const VmConsoleQuery = Type.Object(
  {
    bytes: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: consoleLogMaxBytes,
        default: consoleLogDefaultBytes,
        description: 'How many bytes of the end of the console output to answer.',
      }),
    ),
  },
  { additionalProperties: false },
);

export const WaitVmQuery = Type.Object(
  {
    state: VmStateSchema,
    timeout_s: Type.Optional(
      Type.Integer({ minimum: 0, maximum: waitTimeoutSeconds.maximum, default: waitTimeoutSeconds.default }),
    ),
  },
  { additionalProperties: false },
);

export const VmView = Type.Object({
  id: Type.String({ pattern: vmIdPattern }),
  name: Type.String(),
  project: Type.String(),
  state: VmStateSchema,
  hostId: Type.String(),
  vcpuCount: Type.Integer(),
  memoryMib: Type.Integer(),
  kernelImageId: Type.String(),
  rootfsImageId: Type.String(),
  kernelPath: Type.String(),
  rootfsPath: Type.String(),
  bootArgs: Type.String(),
  guestMac: Type.String(),
  /** The guest's address (on `eth0`, MAC `guestMac`), gateway and DNS servers; null for VMs made before addresses were leased. */
  network: Type.Union([
    Type.Object({
      ipAddress: Type.String(),
      prefixLength: Type.Integer(),
      gateway: Type.String(),
      dnsServers: Type.Array(Type.String()),
    }),
    Type.Null(),
  ]),
  isMetricsEnabled: Type.Boolean(),
  /** What the guest may send beyond its host (see `egress` of the create body). */
  egress: EgressPolicy,
  /** Host ports forwarded to the guest on its host (see `ports` of the create body); empty when none. */
  ports: PublishedPorts,
  /** The shared network of its project the VM joined; null: none. */
  sharedNetwork: Type.Union([Type.String(), Type.Null()]),
  /** Firecracker rate limiters of its network interface and drive (see `rateLimits` of the create body); `{}`: none. */
  rateLimits: RateLimits,
  failureReason: Type.Union([Type.Object({ code: Type.String(), message: Type.String() }), Type.Null()]),
  /** The Agent's steps of the last start, with their durations. */
  steps: Type.Array(Type.Object({ name: Type.String(), durationMs: Type.Number(), at: Timestamp })),
  /** Wall time of the last start as the Manager saw it; null before the first one ends. */
  totalMs: Type.Union([Type.Number(), Type.Null()]),
  createdAt: Timestamp,
  updatedAt: Timestamp,
  /** Incremented on every change of the record; also the `ETag` (`"<version>"`) for `If-Match`. */
  version: Type.Integer({ minimum: 1 }),
  /** What the host's Agent last reported about the VMM process (not the lifecycle state). */
  observedState: Type.Union([ObservedVmStateSchema, Type.Null()]),
  observedAt: Type.Union([Timestamp, Type.Null()]),
  /** What happens when the VMM dies on its own (see `restartPolicy` of the create body). */
  restartPolicy: Type.Union([Type.Literal('never'), Type.Literal('on-failure'), Type.Literal('always')]),
  /** The template the VM was created from (its values were copied then) and that template's version; null for none. */
  templateId: Type.Union([Type.String(), Type.Null()]),
  templateVersion: Type.Union([Type.Integer(), Type.Null()]),
  /** The snapshot the VM was cloned from and the VM it was taken of; null for a VM that booted. */
  restoredFrom: Type.Union([Type.Object({ snapshotId: Type.String(), vmId: Type.String() }), Type.Null()]),
  /**
   * A restore in place asked for and not finished: the VM's next start restores this snapshot of its
   * own (and leaves the guest paused when `isPaused`); null otherwise.
   */
  pendingRestore: Type.Union([Type.Object({ snapshotId: Type.String(), isPaused: Type.Boolean() }), Type.Null()]),
});

/** The clones of one `POST /v1/vms` with `snapshotId` and `count`, in name order. */
export const VmBatchView = Type.Object({ items: Type.Array(VmView) });

export const WaitResultView = Type.Object({
  vm: VmView,
  /** `reached`: the VM is in the state asked for; `failed`: it failed on the way; `timed_out`: neither in time. */
  outcome: Type.Union([Type.Literal('reached'), Type.Literal('failed'), Type.Literal('timed_out')]),
  isReached: Type.Boolean(),
});

export const VmPageView = Type.Object({
  items: Type.Array(VmView),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
});

export const DeletedVmView = Type.Object({ id: Type.String(), project: Type.String(), removed: Type.Array(HostResource) });
