import { isHostHealthy, type Host } from './host.js';
import type { HostId } from './ids.js';

export interface PlacementPolicy {
  /** Schedulable vCPUs = host CPUs × this ratio. */
  readonly cpuOvercommit: number;
  /** Schedulable memory = host MemTotal × this ratio. */
  readonly memoryOvercommit: number;
  readonly heartbeatIntervalMs: number;
}

export interface ResourceRequest {
  readonly vcpuCount: number;
  readonly memoryMib: number;
}

/** What the VMs already placed on a host hold. */
export interface HostAllocation {
  readonly vcpuCount: number;
  readonly memoryMib: number;
}

export type RejectionReason = 'heartbeat_stale' | 'insufficient_cpu' | 'insufficient_memory';

export interface HostRejection {
  readonly hostId: HostId;
  readonly reason: RejectionReason;
}

export type PlacementResult =
  | { readonly isPlaced: true; readonly hostId: HostId }
  | { readonly isPlaced: false; readonly rejections: readonly HostRejection[] };

export const noAllocation: HostAllocation = Object.freeze({ vcpuCount: 0, memoryMib: 0 });

/** Free schedulable resources of a host under the policy (may be negative when over-allocated). */
export function freeResources(host: Host, allocation: HostAllocation, policy: PlacementPolicy): HostAllocation {
  return {
    vcpuCount: Math.floor(host.capacity.cpuCount * policy.cpuOvercommit) - allocation.vcpuCount,
    memoryMib: Math.floor(host.capacity.memoryMibTotal * policy.memoryOvercommit) - allocation.memoryMib,
  };
}

/**
 * Picks the healthy host with the most free memory that fits the request (ties: most free vCPUs,
 * then the smaller id), or says for every host why it was not chosen.
 */
export function placeVm(
  request: ResourceRequest,
  hosts: readonly Host[],
  allocations: ReadonlyMap<HostId, HostAllocation>,
  policy: PlacementPolicy,
  now: Date,
): PlacementResult {
  const rejections: HostRejection[] = [];
  let best: { hostId: HostId; free: HostAllocation } | undefined;
  for (const host of hosts) {
    const reason = rejectionOf(host, request, allocations.get(host.id) ?? noAllocation, policy, now);
    if (reason !== undefined) {
      rejections.push({ hostId: host.id, reason });
      continue;
    }
    const free = freeResources(host, allocations.get(host.id) ?? noAllocation, policy);
    if (best === undefined || isBetter(host.id, free, best)) best = { hostId: host.id, free };
  }
  return best === undefined ? { isPlaced: false, rejections } : { isPlaced: true, hostId: best.hostId };
}

/** Why `host` cannot take `request`, or undefined when it can. */
export function rejectionOf(
  host: Host,
  request: ResourceRequest,
  allocation: HostAllocation,
  policy: PlacementPolicy,
  now: Date,
): RejectionReason | undefined {
  if (!isHostHealthy(host.lastHeartbeatAt, now, policy.heartbeatIntervalMs)) return 'heartbeat_stale';
  const free = freeResources(host, allocation, policy);
  if (free.vcpuCount < request.vcpuCount) return 'insufficient_cpu';
  if (free.memoryMib < request.memoryMib) return 'insufficient_memory';
  return undefined;
}

function isBetter(hostId: HostId, free: HostAllocation, best: { hostId: HostId; free: HostAllocation }): boolean {
  if (free.memoryMib !== best.free.memoryMib) return free.memoryMib > best.free.memoryMib;
  if (free.vcpuCount !== best.free.vcpuCount) return free.vcpuCount > best.free.vcpuCount;
  return hostId < best.hostId;
}
