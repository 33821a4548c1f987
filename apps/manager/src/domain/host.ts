import type { HostCapacity, HostFacts } from '@hearth/contracts';
import type { HostId } from './ids.js';

export interface Host {
  readonly id: HostId;
  readonly name: string;
  /** Base URL of the host's Agent. */
  readonly addr: string;
  readonly capacity: HostCapacity;
  readonly facts: HostFacts;
  readonly registeredAt: Date;
  readonly lastHeartbeatAt: Date;
}

export type HostStatus = 'healthy' | 'unhealthy';

/** A host is healthy while its last heartbeat is at most this many intervals old. */
export const heartbeatToleranceIntervals = 3;

export function isHostHealthy(lastHeartbeatAt: Date, now: Date, heartbeatIntervalMs: number): boolean {
  return now.getTime() - lastHeartbeatAt.getTime() <= heartbeatToleranceIntervals * heartbeatIntervalMs;
}

export function hostStatus(host: Pick<Host, 'lastHeartbeatAt'>, now: Date, heartbeatIntervalMs: number): HostStatus {
  return isHostHealthy(host.lastHeartbeatAt, now, heartbeatIntervalMs) ? 'healthy' : 'unhealthy';
}
