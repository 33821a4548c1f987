import { HostCapacity, HostFacts, ResourceKind } from '@hearth/contracts';
import { Type } from 'typebox';
import { hostPageSize } from '../../application/use-cases/host-queries.js';
import { HostIdString, Timestamp } from './common.js';

export const HostView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  addr: Type.String(),
  /** `unhealthy` once no heartbeat came for 3 intervals (its VMs become `unknown`), until the next one. */
  status: Type.Union([Type.Literal('healthy'), Type.Literal('unhealthy')]),
  statusChangedAt: Type.Union([Timestamp, Type.Null()]),
  /** A cordoned host gets no new VMs (`POST /v1/hosts/{id}/cordon`, `/uncordon`, `/drain`). */
  isCordoned: Type.Boolean(),
  capacity: HostCapacity,
  /** Preflight facts reported by the Agent; placement refuses a host without Firecracker or bridge (and KVM, unless MANAGER_REQUIRE_KVM=false). */
  facts: HostFacts,
  /** CPU and memory held by the host's VMs (pending, starting, running, stopping). */
  allocated: Type.Object({ vcpuCount: Type.Integer(), memoryMib: Type.Integer() }),
  registeredAt: Timestamp,
  lastHeartbeatAt: Timestamp,
});

export const HostList = Type.Object({
  items: Type.Array(HostView),
  /** Pass as `cursor` for the next page; null on the last page. */
  nextCursor: Type.Union([Type.String(), Type.Null()]),
});

export const ListHostsQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: hostPageSize.maximum, default: hostPageSize.default })),
    /** `nextCursor` of the previous page. */
    cursor: Type.Optional(HostIdString),
  },
  { additionalProperties: false },
);

export const RemoveHostQuery = Type.Object(
  {
    /** true: also remove the VM records on the host (their VMs went with it). Default false: 409 HOST_HAS_VMS while any remain. */
    force: Type.Optional(Type.Boolean({ default: false })),
  },
  { additionalProperties: false },
);

export const HostResourceView = Type.Object({
  kind: ResourceKind,
  /** TAP name, path or pid. */
  ref: Type.String(),
  vmId: Type.String(),
  /** The VM's state in the Manager; null when no VM record on this host stands behind the resource. */
  vmState: Type.Union([Type.String(), Type.Null()]),
  /** True when no VM record on this host stands behind it; the reconciler removes orphans. */
  isOrphaned: Type.Boolean(),
  /** True when the Agent cannot read the VM's record: its files are left in place until an operator repairs it. */
  isRecordUnreadable: Type.Boolean(),
});

export const HostResourcesView = Type.Object({
  hostId: Type.String(),
  hostName: Type.String(),
  readAt: Timestamp,
  /** Read live from the Agent's ledger. The Agent creates no firewall rules yet, so none are listed. */
  items: Type.Array(HostResourceView),
});

export const DrainReportView = Type.Object({
  host: HostView,
  stopped: Type.Array(Type.String()),
  failed: Type.Array(Type.Object({ vmId: Type.String(), code: Type.String(), message: Type.String() })),
  skipped: Type.Array(Type.Object({ vmId: Type.String(), state: Type.String() })),
});
