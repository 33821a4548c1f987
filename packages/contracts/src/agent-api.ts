import { Type, type Static } from 'typebox';
import { EgressPolicy } from './egress-policy.js';
import { PublishedPorts } from './published-ports.js';
import { RateLimits } from './rate-limits.js';

/**
 * The Agent's HTTP API (under `/agent/v1`), shared by the Agent (server) and the Manager (client).
 * Field names are camelCase with units; VM ids are the Manager's ids (`vm_<ulid>`).
 */
export const agentApiPrefix = '/agent/v1';

export const VmIdPattern = '^vm_[0-9A-HJKMNP-TV-Z]{26}$';
export const SnapshotIdPattern = '^snap_[0-9A-HJKMNP-TV-Z]{26}$';
export const VmIdParams = Type.Object({ id: Type.String({ pattern: VmIdPattern }) }, { additionalProperties: false });
export type VmIdParams = Static<typeof VmIdParams>;

/** The most of a VM's serial console output one request reads. */
export const consoleLogMaxBytes = 1024 * 1024;
export const consoleLogDefaultBytes = 64 * 1024;
/** `?bytes=`: how much of the end of the serial console's output to answer. */
export const ConsoleLogQuery = Type.Object(
  { bytes: Type.Optional(Type.Integer({ minimum: 1, maximum: consoleLogMaxBytes, default: consoleLogDefaultBytes })) },
  { additionalProperties: false },
);
export type ConsoleLogQuery = Static<typeof ConsoleLogQuery>;

/** How much of the log an attached console client gets first, unless it asks for another amount. */
export const consoleAttachDefaultBacklogBytes = 16 * 1024;
/** `?backlog=`: how much of the end of the serial console's log to send before live output. */
export const ConsoleAttachQuery = Type.Object(
  {
    backlog: Type.Optional(Type.Integer({ minimum: 0, maximum: consoleLogMaxBytes, default: consoleAttachDefaultBacklogBytes })),
  },
  { additionalProperties: false },
);
export type ConsoleAttachQuery = Static<typeof ConsoleAttachQuery>;

/**
 * Why a console attachment ended, in the one text frame `{"type":"closed","reason":…}` sent before
 * the WebSocket closes: the VM stopped; a newer client took its place; the client did not read its
 * output fast enough; the server is stopping.
 */
export const consoleCloseReasons = ['vm_stopped', 'replaced', 'too_slow', 'shutting_down'] as const;
export type ConsoleCloseReason = (typeof consoleCloseReasons)[number];
/** The subprotocol of a console WebSocket (binary frames: raw serial bytes both ways). */
export const consoleSubprotocol = 'hearth.console.v1';

/** The text frame sent before a console WebSocket is closed by the server. */
export function consoleClosedFrame(reason: ConsoleCloseReason): string {
  return JSON.stringify({ type: 'closed', reason });
}

export const MacAddress = Type.String({ pattern: '^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$' });

/**
 * The kernel command line Firecracker builds on x86_64 holds at most 2048 bytes including its NUL.
 * To the boot arguments it appends the root device of the Agent's one drive (` root=/dev/vda rw`),
 * ` pci=off` and one `virtio_mmio.device=<size>@<base>:<irq>` declaration per device (the rootfs
 * drive and `eth0`); each declaration is reserved at its longest (64-bit base, 10-digit irq).
 */
export const kernelCommandLine = {
  maxBytes: 2048 - 1,
  appended: [' root=/dev/vda rw', ' pci=off'],
  deviceCount: 2,
  deviceDeclarationMaxBytes: ' virtio_mmio.device=4K@0x'.length + 16 + 1 + 10,
} as const;

/** The longest boot arguments that fit the kernel command line with everything Firecracker appends. */
export const unconfiguredBootArgsMaxLength =
  kernelCommandLine.maxBytes -
  kernelCommandLine.appended.join('').length -
  kernelCommandLine.deviceCount * kernelCommandLine.deviceDeclarationMaxBytes;

/** The name of the guest's one network interface, as the kernel's `ip=` argument names it. */
export const guestInterfaceName = 'eth0';

/** Longest dotted quad. */
const ipv4MaxLength = '255.255.255.255'.length;

/** A VM's hostname: its name (DNS-label-like, at most 63 characters). */
export const hostnameMaxLength = 63;

/** At most two DNS servers: what the kernel's `ip=` argument can carry. */
export const guestDnsServersMaxCount = 2;

/**
 * The kernel's `ip=` argument configuring the guest's interface at boot (Documentation/admin-guide/
 * nfs/nfsroot.rst): `ip=<client>::<gateway>:<netmask>:<hostname>:<device>:off:<dns0>:<dns1>`.
 */
export function guestIpArgument(
  guest: Pick<GuestConfig, 'ipAddress' | 'prefixLength' | 'gateway' | 'dnsServers' | 'hostname'>,
): string {
  const mask = guest.prefixLength === 0 ? 0 : (0xffffffff << (32 - guest.prefixLength)) >>> 0;
  const netmask = [24, 16, 8, 0].map((shift) => (mask >>> shift) & 255).join('.');
  const dns = guest.dnsServers.slice(0, guestDnsServersMaxCount);
  return ` ip=${[guest.ipAddress, '', guest.gateway, netmask, guest.hostname, guestInterfaceName, 'off', ...dns].join(':')}`;
}

/** The longest `ip=` argument: every address at its longest, the longest hostname, two DNS servers. */
export const guestIpArgumentMaxLength = ` ip=:::::${guestInterfaceName}:off::`.length + 5 * ipv4MaxLength + hostnameMaxLength;

/**
 * The longest boot arguments a user may give: what still fits with Firecracker's additions and the
 * guest's `ip=` argument, which the Agent appends.
 */
export const bootArgsMaxLength = unconfiguredBootArgsMaxLength - guestIpArgumentMaxLength;

/** Boot arguments are printable ASCII. */
export const bootArgsPattern = '^[\\x20-\\x7E]*$';

const Ipv4 = Type.String({ format: 'ipv4', maxLength: ipv4MaxLength });

/** User data is served by MMDS, whose whole store Firecracker caps at 51,200 bytes by default. */
export const userDataMaxLength = 16_384;

/**
 * How the guest is configured without writing boot arguments: the Agent appends the kernel's `ip=`
 * argument and puts the same, with the hostname and user data, into MMDS (version 2, token-based).
 */
export const GuestConfig = Type.Object(
  {
    ipAddress: Ipv4,
    prefixLength: Type.Integer({ minimum: 1, maximum: 32 }),
    gateway: Ipv4,
    dnsServers: Type.Array(Ipv4, { maxItems: guestDnsServersMaxCount }),
    hostname: Type.String({ minLength: 1, maxLength: hostnameMaxLength, pattern: '^[a-z0-9][a-z0-9-]*$' }),
    userData: Type.Optional(Type.String({ maxLength: userDataMaxLength })),
  },
  { additionalProperties: false },
);
export type GuestConfig = Static<typeof GuestConfig>;

/** The whole desired VM, applied by `PUT /agent/v1/vms/:id` as idempotent steps. */
export const VmSpec = Type.Object(
  {
    vcpuCount: Type.Integer({ minimum: 1, maximum: 32 }),
    memoryMib: Type.Integer({ minimum: 1, maximum: 1048576 }),
    /** Absolute path of an ELF vmlinux inside the Agent's image root. */
    kernelPath: Type.String({ minLength: 1, maxLength: 4096 }),
    /** Absolute path of the ext4 image the VM's private rootfs copy is made from. */
    rootfsSourcePath: Type.String({ minLength: 1, maxLength: 4096 }),
    /** Without `guest`, up to what fits the kernel command line; with it, short enough for its `ip=` too. */
    bootArgs: Type.String({ maxLength: unconfiguredBootArgsMaxLength, pattern: bootArgsPattern }),
    guestMac: MacAddress,
    isMetricsEnabled: Type.Boolean(),
    /** Absent for VMs made before guests were configured: their boot arguments are used as they are. */
    guest: Type.Optional(GuestConfig),
    /**
     * The VM's egress policy, applied at every start on whatever host (and on a running VM whose
     * policy differs). Absent from older Managers: the Agent then keeps the policy it has recorded.
     */
    egress: Type.Optional(EgressPolicy),
    /**
     * Start by restoring this snapshot (of a VM on the same host, or of this VM: a restore in place)
     * instead of booting: the VM's disk becomes a copy of the snapshot's, the memory is loaded, the
     * guest is told its own identity by MMDS and resumed (left paused with `isPaused`). Absent: boot
     * from the VM's own disk (a clone that ran once boots like any VM).
     */
    restoreFrom: Type.Optional(
      Type.Object(
        {
          vmId: Type.String({ pattern: VmIdPattern }),
          snapshotId: Type.String({ pattern: SnapshotIdPattern }),
          isPaused: Type.Optional(Type.Boolean()),
        },
        { additionalProperties: false },
      ),
    ),
    /**
     * Host ports forwarded (DNAT) to the guest, written with its egress chain; only on Agents with
     * egress through NAT. Absent from older Managers: the Agent then keeps the ports it has recorded.
     */
    ports: Type.Optional(PublishedPorts),
    /**
     * The shared network the guest joined (the Manager qualifies its name by the project): guests
     * of one host reach each other only when both joined the same one. Absent: none.
     */
    sharedNetwork: Type.Optional(Type.String({ minLength: 1, maxLength: 160, pattern: '^[A-Za-z0-9][A-Za-z0-9._/-]*$' })),
    /**
     * Firecracker rate limiters of the network interface and the drive, set at their PUT and, on a
     * running VM applied again with other limits, changed by PATCH. Absent: nothing is limited.
     */
    rateLimits: Type.Optional(RateLimits),
  },
  { additionalProperties: false },
);
export type VmSpec = Static<typeof VmSpec>;

export const StepName = Type.Union([
  Type.Literal('tap'),
  Type.Literal('rootfs'),
  Type.Literal('spawn'),
  Type.Literal('logger'),
  Type.Literal('metrics'),
  Type.Literal('machine-config'),
  Type.Literal('boot-source'),
  Type.Literal('drives'),
  Type.Literal('network'),
  Type.Literal('mmds'),
  Type.Literal('start'),
  /** `PUT /snapshot/load` of a VM that starts from a snapshot (its TAP given by a network override). */
  Type.Literal('load'),
  /** `PATCH /vm Resumed` of a VM restored from a snapshot, once MMDS holds its own identity. */
  Type.Literal('resume'),
  /** The VM's egress chain and NAT in Hearth's nftables table (only on Agents with egress through NAT). */
  Type.Literal('egress'),
]);
export type StepName = Static<typeof StepName>;

/**
 * The steps of `PUT /vms/:id`, in the order they run. A fresh VM's VMM is spawned once its TAP,
 * disk (and metrics FIFO) are there, configured from the start: it builds the VM and boots it at
 * once, and `start` is the wait until it runs. A restore's VMM is spawned with its log and
 * metrics on its command line (once its metrics FIFO is there), then takes the load, MMDS data
 * (only when its guest is configured) and the resume.
 */
export function applyPlan(spec: Pick<VmSpec, 'isMetricsEnabled' | 'guest' | 'restoreFrom'>): StepName[] {
  if (spec.restoreFrom !== undefined) {
    return ['tap', 'rootfs', 'spawn', 'load', ...(spec.guest === undefined ? [] : (['mmds'] as const)), 'resume'];
  }
  return ['tap', 'rootfs', 'spawn', 'start'];
}

export const StepTiming = Type.Object({
  name: StepName,
  durationMs: Type.Number({ minimum: 0 }),
  /** False when the step found its effect already in place and did nothing. */
  hasRun: Type.Boolean(),
});
export type StepTiming = Static<typeof StepTiming>;

export const ResourceKind = Type.Union([
  Type.Literal('tap'),
  Type.Literal('process'),
  Type.Literal('socket'),
  Type.Literal('fifo'),
  Type.Literal('rootfs'),
  Type.Literal('log'),
  /** A file a request proxied to Firecracker created (snapshot, memory file, log, metrics, socket). */
  Type.Literal('file'),
  /** The VM's chain and elements in Hearth's nftables table; `ref` is `ip <table> <chain>`. */
  Type.Literal('nft_rule'),
  Type.Literal('directory'),
  /** A snapshot's files (device state, memory, disk copy) in the VM's directory; `ref` is the snapshot id. */
  Type.Literal('snapshot'),
]);
export type ResourceKind = Static<typeof ResourceKind>;

/** One thing the Agent created on the host for a VM. `ref` is a name, path or pid. */
export const HostResource = Type.Object({
  kind: ResourceKind,
  ref: Type.String(),
  vmId: Type.String(),
});
export type HostResource = Static<typeof HostResource>;

/** The kinds of resource a VM holds only while its VMM runs or is about to: a VM holding none can be started again. */
export const runtimeResourceKinds: ReadonlySet<ResourceKind> = new Set<ResourceKind>(['process', 'tap', 'socket', 'fifo']);

/** Whether any of the resources is a runtime one (see `runtimeResourceKinds`). */
export function holdsRuntimeResources(resources: readonly Pick<HostResource, 'kind'>[]): boolean {
  return resources.some((resource) => runtimeResourceKinds.has(resource.kind));
}

/**
 * `unreadable`: the Agent holds the VM's directory but cannot read its record; it leaves all of it
 * in place (and refuses changes with VM_RECORD_UNREADABLE) until an operator repairs the record.
 */
export const VmmState = Type.Union([
  Type.Literal('not_started'),
  Type.Literal('running'),
  Type.Literal('paused'),
  Type.Literal('exited'),
  Type.Literal('absent'),
  Type.Literal('unreadable'),
]);
export type VmmState = Static<typeof VmmState>;

/** What the Agent observes about one VM it created. */
export const AgentVm = Type.Object({
  vmId: Type.String(),
  vmmState: VmmState,
  pid: Type.Union([Type.Integer(), Type.Null()]),
  tapName: Type.Union([Type.String(), Type.Null()]),
  socketPath: Type.Union([Type.String(), Type.Null()]),
  rootfsPath: Type.Union([Type.String(), Type.Null()]),
  /** Empty in an inventory read with `?resources=none` (see `InventoryQuery`). */
  resources: Type.Array(HostResource),
  /**
   * In the inventory and `GET /vms/:id`: whether the VM holds runtime resources (see
   * `runtimeResourceKinds`), which its `resources` show too unless they were left out. Absent from
   * older Agents (and, from Agents before `GET /vms/:id` answered the inventory's entry, there).
   */
  holdsRuntimeResources: Type.Optional(Type.Boolean()),
  /**
   * How the VMM ended, when `vmmState` is `exited` and this Agent saw it end: its exit code (0
   * after a reboot from inside the guest) or the signal that ended it. Absent when unknown.
   */
  vmmExit: Type.Optional(
    Type.Object({ code: Type.Union([Type.Integer(), Type.Null()]), signal: Type.Union([Type.String(), Type.Null()]) }),
  ),
  /**
   * The VM's snapshots and whether each is complete (`ready`) or still being taken (`creating`:
   * only while a call takes it, since an Agent that restarts removes unfinished ones).
   */
  snapshots: Type.Optional(
    Type.Array(Type.Object({ id: Type.String(), state: Type.Union([Type.Literal('creating'), Type.Literal('ready')]) })),
  ),
  /**
   * In the inventory and `GET /vms/:id`, for a running VM on an Agent that writes rules: the egress
   * policy its record holds and whether its rules (chain, elements, published ports, guard) are all
   * in Hearth's table as written. Absent otherwise, and from older Agents.
   */
  egress: Type.Optional(Type.Object({ policy: EgressPolicy, isInPlace: Type.Boolean() })),
  /** In the inventory and `GET /vms/:id`: the rate limits the VM's record holds (`{}`: none). Absent from older Agents. */
  rateLimits: Type.Optional(RateLimits),
});
export type AgentVm = Static<typeof AgentVm>;

/**
 * A VM whose record its Agent cannot read, as an inventory lists it and `GET /vms/:id` answers it:
 * its directory only (with `resources`), so the Manager leaves it alone and the host's resource
 * ledger shows it.
 */
export function unreadableAgentVm(vmId: string, directory: string, isWithResources: boolean): AgentVm {
  return {
    vmId,
    vmmState: 'unreadable',
    pid: null,
    tapName: null,
    socketPath: null,
    rootfsPath: null,
    resources: isWithResources ? [{ kind: 'directory', ref: directory, vmId }] : [],
    holdsRuntimeResources: false,
  };
}

export const ApplyVmResult = Type.Object({
  vm: AgentVm,
  steps: Type.Array(StepTiming),
});
export type ApplyVmResult = Static<typeof ApplyVmResult>;

export const TapResult = Type.Object({ tapName: Type.String(), bridge: Type.String() });
export type TapResult = Static<typeof TapResult>;

/** `PUT /vms/:id/egress`: whether the running VM's chain was rewritten (false: kept for its next start). */
export const EgressPolicyResult = Type.Object({ isApplied: Type.Boolean() });
export type EgressPolicyResult = Static<typeof EgressPolicyResult>;

/** `PUT /vms/:id/rate-limits`: whether the running VM's devices were changed (false: kept for its next start). */
export const RateLimitsResult = Type.Object({ isApplied: Type.Boolean() });
export type RateLimitsResult = Static<typeof RateLimitsResult>;

export const RootfsRequest = Type.Object(
  { sourcePath: Type.String({ minLength: 1, maxLength: 4096 }) },
  { additionalProperties: false },
);
export type RootfsRequest = Static<typeof RootfsRequest>;
export const RootfsResult = Type.Object({ rootfsPath: Type.String(), sizeBytes: Type.Integer() });
export type RootfsResult = Static<typeof RootfsResult>;

export const SpawnResult = Type.Object({
  pid: Type.Integer(),
  socketPath: Type.String(),
  /** True when a live VMM was already there and nothing was started. */
  wasRunning: Type.Boolean(),
});
export type SpawnResult = Static<typeof SpawnResult>;

export const MetricsPrepareResult = Type.Object({ fifoPath: Type.String() });
export type MetricsPrepareResult = Static<typeof MetricsPrepareResult>;

/** Answer of stop and delete when everything was removed; otherwise a VM_CLEANUP_INCOMPLETE problem lists `leftovers`. */
export const CleanupResult = Type.Object({ removed: Type.Array(HostResource) });
export type CleanupResult = Static<typeof CleanupResult>;

/**
 * `POST /vms/:id/stop`'s query. `network=keep`: a stop on the way to a restore in place, which
 * kills the VMM and removes its socket and FIFOs but keeps the VM's TAP and its entry in Hearth's
 * tables (guard, egress, published ports) for the restore's apply to find in place. A VM so stopped
 * still holds runtime resources, which an ordinary stop or a delete removes. An Agent that predates
 * the parameter ignores it and removes everything, which the apply then makes again.
 */
export const StopVmQuery = Type.Object({ network: Type.Optional(Type.Literal('keep')) }, { additionalProperties: false });
export type StopVmQuery = Static<typeof StopVmQuery>;

/** Snapshot ids are the Manager's (`snap_<ulid>`). */
export const SnapshotParams = Type.Object(
  { id: Type.String({ pattern: VmIdPattern }), snapshotId: Type.String({ pattern: SnapshotIdPattern }) },
  { additionalProperties: false },
);
export type SnapshotParams = Static<typeof SnapshotParams>;

/**
 * `POST /vms/:id/snapshots/:snapshotId`: a snapshot of a running or paused VM. The VM is paused
 * (if it runs), its memory and device state are written, its disk is copied while it is paused, and
 * then it is `previous_state` (running again, or still paused) or `stopped`. A `diff` (with the
 * `parentId` it is taken on top of, a ready snapshot of the same VM that its running VMM took or
 * was restored from last) holds only the memory written since; `full` (the default) all of it.
 */
export const CreateSnapshotRequest = Type.Object(
  {
    afterwards: Type.Union([Type.Literal('previous_state'), Type.Literal('stopped')]),
    type: Type.Optional(Type.Union([Type.Literal('full'), Type.Literal('diff')])),
    parentId: Type.Optional(Type.String({ pattern: SnapshotIdPattern })),
    /**
     * A full snapshot made from the files of this ready diff of the VM and its chain (memory merged,
     * device state and disk copied), without pausing or even needing the VM's VMM.
     */
    mergeOf: Type.Optional(Type.String({ pattern: SnapshotIdPattern })),
  },
  { additionalProperties: false },
);
export type CreateSnapshotRequest = Static<typeof CreateSnapshotRequest>;

export const SnapshotFiles = Type.Object({
  statePath: Type.String(),
  memoryPath: Type.String(),
  rootfsPath: Type.String(),
  stateSizeBytes: Type.Integer({ minimum: 0 }),
  memorySizeBytes: Type.Integer({ minimum: 0 }),
  rootfsSizeBytes: Type.Integer({ minimum: 0 }),
});
export type SnapshotFiles = Static<typeof SnapshotFiles>;

export const SnapshotResult = Type.Object({
  snapshotId: Type.String(),
  files: SnapshotFiles,
  /** How long the guest was paused for the snapshot (0 when it was paused already and stays so). */
  pauseMs: Type.Number({ minimum: 0 }),
  totalMs: Type.Number({ minimum: 0 }),
  /** The VMM's own version (`GET /`), part of the snapshot's fingerprint. */
  vmmVersion: Type.String(),
  /** What the VM is now: `running`, `paused` or `stopped`. */
  vmState: Type.Union([Type.Literal('running'), Type.Literal('paused'), Type.Literal('stopped')]),
  /**
   * The files' SHA-256, for copies to other hosts, and for a diff the digest of its memory file's
   * data regions. Absent for snapshots taken before they were recorded.
   */
  digests: Type.Optional(
    Type.Object({
      stateSha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
      memorySha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
      rootfsSha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
      memoryRegionsSha256: Type.Optional(Type.String({ pattern: '^[0-9a-f]{64}$' })),
    }),
  ),
});
export type SnapshotResult = Static<typeof SnapshotResult>;

const Sha256Hex = Type.String({ minLength: 64, maxLength: 64, pattern: '^[0-9a-f]{64}$' });

/**
 * The SHA-256 of each of a snapshot's three files, taken when the snapshot became ready; for a diff
 * also that of its memory file's layout (`memoryRegionsSha256`: one `start end` line per data
 * region, as the file system reported them), since in a diff a hole and zeros written differ.
 */
export const SnapshotDigests = Type.Object(
  {
    stateSha256: Sha256Hex,
    memorySha256: Sha256Hex,
    rootfsSha256: Sha256Hex,
    memoryRegionsSha256: Type.Optional(Sha256Hex),
  },
  { additionalProperties: false },
);
export type SnapshotDigests = Static<typeof SnapshotDigests>;

/** One of a snapshot's three files: its device state, its guest memory, its disk. */
export const SnapshotFileName = Type.Union([Type.Literal('state'), Type.Literal('memory'), Type.Literal('rootfs')]);
export type SnapshotFileName = Static<typeof SnapshotFileName>;
export const snapshotFileNames: readonly SnapshotFileName[] = ['state', 'memory', 'rootfs'];

export const SnapshotCopyParams = Type.Object(
  { snapshotId: Type.String({ pattern: SnapshotIdPattern }) },
  { additionalProperties: false },
);
export type SnapshotCopyParams = Static<typeof SnapshotCopyParams>;

export const SnapshotFileParams = Type.Object(
  { snapshotId: Type.String({ pattern: SnapshotIdPattern }), file: SnapshotFileName },
  { additionalProperties: false },
);
export type SnapshotFileParams = Static<typeof SnapshotFileParams>;

/** The largest snapshot file a copy may carry (16 TiB): far above any guest, far below where arithmetic loses precision. */
export const snapshotFileMaxBytes = 2 ** 44;
const FileBytes = Type.Integer({ minimum: 0, maximum: snapshotFileMaxBytes });

/**
 * `PUT /snapshots/:snapshotId`: this host is to receive a copy of a snapshot taken on another (of
 * VM `vmId`): each file must have the digest given and be no larger than the size given. A diff
 * names its `parentId` (a copy of it, or a snapshot of this host, restores under it) and needs
 * `digests.memoryRegionsSha256`: its memory file arrives as its data regions.
 */
export const SnapshotCopyRequest = Type.Object(
  {
    vmId: Type.String({ pattern: VmIdPattern }),
    parentId: Type.Optional(Type.String({ pattern: SnapshotIdPattern })),
    digests: SnapshotDigests,
    sizes: Type.Object(
      { stateSizeBytes: FileBytes, memorySizeBytes: FileBytes, rootfsSizeBytes: FileBytes },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);
export type SnapshotCopyRequest = Static<typeof SnapshotCopyRequest>;

/** A copy of a snapshot on this host: `ready` once every file arrived with its digest; `missing` lists the others. */
export const SnapshotCopyResult = Type.Object({
  snapshotId: Type.String(),
  state: Type.Union([Type.Literal('copying'), Type.Literal('ready')]),
  missing: Type.Array(SnapshotFileName),
});
export type SnapshotCopyResult = Static<typeof SnapshotCopyResult>;

/** A copy of another host's snapshot, held by this host (outside any VM's directory). */
export const SnapshotCopyEntry = Type.Object({
  snapshotId: Type.String(),
  /** The VM the snapshot was taken of (on another host). */
  vmId: Type.String(),
  state: Type.Union([Type.Literal('copying'), Type.Literal('ready')]),
  /** Its directory, for the host's resource ledger. */
  directory: Type.String(),
});
export type SnapshotCopyEntry = Static<typeof SnapshotCopyEntry>;

/**
 * `GET /inventory?resources=none` leaves out each VM's resource list (about nine tenths of an
 * inventory's bytes), for a reader that compares only states, whether runtime resources are held
 * (`holdsRuntimeResources`), egress, rate limits and snapshots, as the Manager's reconciler does.
 */
export const InventoryQuery = Type.Object(
  { resources: Type.Optional(Type.Union([Type.Literal('all'), Type.Literal('none')])) },
  { additionalProperties: false },
);
export type InventoryQuery = Static<typeof InventoryQuery>;

export const Inventory = Type.Object({
  hostName: Type.String(),
  vms: Type.Array(AgentVm),
  /** What the Agent made but has no record of (a TAP it marked just before a crash); removed at its next start. */
  unrecorded: Type.Optional(Type.Array(HostResource)),
  /** Copies of other hosts' snapshots held here. Absent from older Agents. */
  snapshotCopies: Type.Optional(Type.Array(SnapshotCopyEntry)),
});
export type Inventory = Static<typeof Inventory>;

/** Bounds of what a host may report: far above any real machine, far below where arithmetic loses precision. */
export const hostCapacityLimits = { cpuCount: 65_536, memoryMib: 2 ** 32, vmCount: 1_000_000 } as const;

export const HostCapacity = Type.Object({
  cpuCount: Type.Integer({ minimum: 0, maximum: hostCapacityLimits.cpuCount }),
  memoryMibTotal: Type.Integer({ minimum: 0, maximum: hostCapacityLimits.memoryMib }),
  memoryMibAvailable: Type.Integer({ minimum: 0, maximum: hostCapacityLimits.memoryMib }),
  vmCount: Type.Integer({ minimum: 0, maximum: hostCapacityLimits.vmCount }),
});
export type HostCapacity = Static<typeof HostCapacity>;

/** Preflight facts: what this host can do right now. */
export const HostFacts = Type.Object({
  agentVersion: Type.String({ maxLength: 128 }),
  isKvmUsable: Type.Boolean(),
  /** An executable is at FIRECRACKER_BIN (real Firecracker or not: see firecrackerKind). */
  hasFirecracker: Type.Boolean(),
  /** Its path (at most PATH_MAX). */
  firecrackerBinary: Type.String({ maxLength: 4096 }),
  /**
   * What that executable is: real Firecracker (an ELF binary answering `--version`), the
   * Firecracker double (simulated or QEMU guests), unknown, or missing. Absent from older Agents.
   */
  firecrackerKind: Type.Optional(
    Type.Union([Type.Literal('firecracker'), Type.Literal('double'), Type.Literal('unknown'), Type.Literal('missing')]),
  ),
  /** Its `--version` (e.g. `1.16.1`); null when it printed none. Absent from older Agents. */
  firecrackerVersion: Type.Optional(Type.Union([Type.String({ maxLength: 128 }), Type.Null()])),
  isBridgeUp: Type.Boolean(),
  /** A Linux interface name: at most 15 bytes. */
  bridge: Type.String({ maxLength: 15 }),
  spawnMode: Type.Union([Type.Literal('direct'), Type.Literal('systemd-run')]),
  /**
   * Whether the Agent writes NAT and per-VM rules (`AGENT_EGRESS`): published ports need `nat`.
   * Absent from older Agents, which write none.
   */
  egress: Type.Optional(Type.Union([Type.Literal('off'), Type.Literal('nat')])),
  /**
   * What a snapshot's guest depends on, compared with a snapshot's fingerprint before a restore is
   * placed here (absent from older Agents): the snapshot format the VMM writes and loads (its
   * `--snapshot-version`), the host kernel's release, the CPU model and a SHA-256 of its flags.
   */
  snapshotFormatVersion: Type.Optional(Type.Union([Type.String({ maxLength: 64 }), Type.Null()])),
  kernelRelease: Type.Optional(Type.Union([Type.String({ maxLength: 256 }), Type.Null()])),
  cpuModel: Type.Optional(Type.Union([Type.String({ maxLength: 256 }), Type.Null()])),
  cpuFlagsSha256: Type.Optional(Type.Union([Type.String({ maxLength: 64, pattern: '^[0-9a-f]{64}$' }), Type.Null()])),
  /**
   * Whether the host forwards IPv4 (`net.ipv4.ip_forward` in the bridge's namespace): without it no
   * guest leaves by NAT, and the Agent refuses egress (`HOST_EGRESS_UNAVAILABLE`). Null when it
   * could not be read; absent from older Agents.
   */
  isIpForwarding: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])),
  /** The bridge's IPv4 address with its prefix length (the guests' gateway); null when it has none. Absent from older Agents. */
  bridgeAddress: Type.Optional(Type.Union([Type.String({ maxLength: 18 }), Type.Null()])),
  /**
   * What this Agent's protocol takes beyond the oldest one's (see `agentCapabilities`), so that
   * the Manager asks it only for what it understands. Names it does not know are kept and ignored;
   * absent from older Agents, which take none of them.
   */
  capabilities: Type.Optional(Type.Array(Type.String({ maxLength: 64, pattern: '^[a-z0-9_]+$' }), { maxItems: 64 })),
});
export type HostFacts = Static<typeof HostFacts>;

/**
 * The capabilities an Agent reports in its facts:
 * - `snapshot_copy_diffs`: it takes the copy of a diff snapshot (`parentId`, with the digest of its
 *   memory file's data regions, which that file arrives as);
 * - `snapshot_copy_data_regions`: it takes any file of a copy as its data regions
 *   (`application/vnd.hearth.data-regions`), and serves a full file so when asked for it.
 */
export const agentCapabilities = {
  snapshotCopyDiffs: 'snapshot_copy_diffs',
  snapshotCopyDataRegions: 'snapshot_copy_data_regions',
} as const;
export type AgentCapability = (typeof agentCapabilities)[keyof typeof agentCapabilities];

/**
 * The media type of a snapshot's file sent as its data regions (`HRTHDR01`, the file's size, then
 * each region's start, length and bytes, and an end mark), beside `application/octet-stream`.
 */
export const dataRegionStreamType = 'application/vnd.hearth.data-regions';

export const AgentHealth = Type.Object({
  status: Type.Literal('ok'),
  hostName: Type.String(),
  time: Type.String(),
  facts: HostFacts,
});
export type AgentHealth = Static<typeof AgentHealth>;

/** Paths (relative to the Firecracker API root) that `ANY /vms/:id/proxy/*` forwards. */
export const proxyAllowList: readonly RegExp[] = Object.freeze([
  /^$/,
  /^version$/,
  /^vm$/,
  /^vm\/config$/,
  /^machine-config$/,
  /^boot-source$/,
  /^drives\/[A-Za-z0-9_]+$/,
  /^network-interfaces\/[A-Za-z0-9_]+$/,
  /^logger$/,
  /^metrics$/,
  /^actions$/,
  /^snapshot\/(create|load)$/,
  /^balloon(\/statistics)?$/,
  /^mmds(\/config)?$/,
]);

export function isProxyPathAllowed(path: string): boolean {
  return proxyAllowList.some((pattern) => pattern.test(path));
}
