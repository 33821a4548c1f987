import { isHostAlive, noAnswers, type Host, type LastAnswerOf } from './host.js';
import type { HostId } from './ids.js';
import type { PublishedPort, TakenPort } from './published-ports.js';

export interface PlacementPolicy {
  /** Schedulable vCPUs = host CPUs × this ratio. */
  readonly cpuOvercommit: number;
  /** Schedulable memory = host MemTotal × this ratio. */
  readonly memoryOvercommit: number;
  readonly heartbeatIntervalMs: number;
  /**
   * Refuse hosts whose Agent reports KVM unusable (default true). The Firecracker double used by the
   * tests needs no KVM, so development setups turn this off (MANAGER_REQUIRE_KVM=false).
   */
  readonly isKvmRequired?: boolean;
}

export interface ResourceRequest {
  readonly vcpuCount: number;
  readonly memoryMib: number;
}

/**
 * What a host's row says of whether it takes VMs, read again when a VM is admitted on it: a
 * placement may have judged the host from a listing a moment old (a cordon, an unhealthy mark).
 */
export type HostStanding = Pick<Host, 'status' | 'isCordoned'>;

/** What the VMs already placed on a host hold. */
export interface HostAllocation {
  readonly vcpuCount: number;
  readonly memoryMib: number;
  /**
   * VMs holding host resources (each has one TAP on the host's bridge). When unknown, the VM
   * count the Agent reports is used instead.
   */
  readonly vmCount?: number;
}

/**
 * A Linux bridge takes at most 1024 ports (BR_MAX_PORTS); one is kept for the uplink, so a host
 * runs at most 1023 VMs (one TAP each).
 */
export const bridgeInterfaceLimit = 1023;

/** Why a host cannot take a VM, in the order they are checked. */
export const rejectionReasons = [
  'unhealthy',
  'heartbeat_stale',
  'cordoned',
  'kvm_unusable',
  'firecracker_missing',
  'bridge_down',
  'interface_limit',
  'insufficient_cpu',
  'insufficient_memory',
  // Only for a VM with published ports (see `portRejectionOf`):
  'egress_off',
  'host_port_taken',
] as const;
export type RejectionReason = (typeof rejectionReasons)[number];

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
 * Picks the host with the most free memory that can take the request (ties: most free vCPUs, then
 * fewer VMs, then the smaller id, so VMs spread over equal hosts), or says for every host why it
 * was not chosen.
 */
export function placeVm(
  request: ResourceRequest,
  hosts: readonly Host[],
  allocations: ReadonlyMap<HostId, HostAllocation>,
  policy: PlacementPolicy,
  now: Date,
  lastAnswerOf: LastAnswerOf = noAnswers,
): PlacementResult {
  const rejections: HostRejection[] = [];
  let best: Candidate | undefined;
  for (const host of hosts) {
    const allocation = allocations.get(host.id) ?? noAllocation;
    const reason = rejectionOf(host, request, allocation, policy, now, lastAnswerOf);
    if (reason !== undefined) {
      rejections.push({ hostId: host.id, reason });
      continue;
    }
    const candidate = { hostId: host.id, free: freeResources(host, allocation, policy), vmCount: vmCountOf(host, allocation) };
    if (best === undefined || isBetter(candidate, best)) best = candidate;
  }
  return best === undefined ? { isPlaced: false, rejections } : { isPlaced: true, hostId: best.hostId };
}

/**
 * Why `host` cannot take `request`, or undefined when it can. A late heartbeat refuses a host only
 * when its Agent has not answered since either (`lastAnswerOf`): a saturated host still answering
 * is not stale.
 */
export function rejectionOf(
  host: Host,
  request: ResourceRequest,
  allocation: HostAllocation,
  policy: PlacementPolicy,
  now: Date,
  lastAnswerOf: LastAnswerOf = noAnswers,
): RejectionReason | undefined {
  if (host.status === 'unhealthy') return 'unhealthy';
  if (!isHostAlive(host, lastAnswerOf, now, policy.heartbeatIntervalMs)) return 'heartbeat_stale';
  if (host.isCordoned) return 'cordoned';
  if ((policy.isKvmRequired ?? true) && !host.facts.isKvmUsable) return 'kvm_unusable';
  if (!host.facts.hasFirecracker) return 'firecracker_missing';
  if (!host.facts.isBridgeUp) return 'bridge_down';
  if (vmCountOf(host, allocation) >= bridgeInterfaceLimit) return 'interface_limit';
  const free = freeResources(host, allocation, policy);
  if (free.vcpuCount < request.vcpuCount) return 'insufficient_cpu';
  if (free.memoryMib < request.memoryMib) return 'insufficient_memory';
  return undefined;
}

/**
 * Why `host` cannot publish `ports`: its Agent writes no NAT rules or its host forwards no IPv4
 * (`egress_off`), or another VM
 * publishes one of them there (`host_port_taken`, from `taken`); undefined when it can (or when
 * there are no ports). Checked before resources: a VM with ports goes only where they are free.
 */
export function portRejectionOf(
  host: Pick<Host, 'id' | 'facts'>,
  ports: readonly PublishedPort[],
  taken: readonly TakenPort[],
): 'egress_off' | 'host_port_taken' | undefined {
  if (ports.length === 0) return undefined;
  // A host whose Agent reports that it does not forward IPv4 would refuse them (HOST_EGRESS_UNAVAILABLE).
  if (host.facts.egress !== 'nat' || host.facts.isIpForwarding === false) return 'egress_off';
  if (taken.some((port) => port.hostId === host.id)) return 'host_port_taken';
  return undefined;
}

interface Candidate {
  readonly hostId: HostId;
  readonly free: HostAllocation;
  readonly vmCount: number;
}

function vmCountOf(host: Host, allocation: HostAllocation): number {
  return allocation.vmCount ?? host.capacity.vmCount;
}

function isBetter(candidate: Candidate, best: Candidate): boolean {
  if (candidate.free.memoryMib !== best.free.memoryMib) return candidate.free.memoryMib > best.free.memoryMib;
  if (candidate.free.vcpuCount !== best.free.vcpuCount) return candidate.free.vcpuCount > best.free.vcpuCount;
  if (candidate.vmCount !== best.vmCount) return candidate.vmCount < best.vmCount;
  return candidate.hostId < best.hostId;
}
