import { heartbeatToleranceIntervals, isHostAlive, type Host, type HostStatus } from '../../domain/host.js';
import type { ReconcilerDependencies } from './reconciler-dependencies.js';

/**
 * Judges hosts by their heartbeats, as the leading reconciler may act on them: overdue, unless its
 * Agent has answered this Manager since (a saturated host whose heartbeats come late is alive). For one heartbeat
 * timeout after it starts leading, a late heartbeat proves nothing: no Manager may have been up to
 * receive it (a restart, a failover). Until then a host is judged by its stored status only, so a
 * Manager restart does not mark every host unhealthy and every VM unknown.
 */
export class HostHealth {
  /** When the reconciler last started leading (ms since the epoch). */
  private leadingSinceMs = 0;

  constructor(
    private readonly deps: Pick<ReconcilerDependencies, 'hosts' | 'contacts' | 'clock' | 'log'>,
    private readonly heartbeatIntervalMs: number,
  ) {}

  /** Starts the grace: called when the reconciler starts leading. */
  startedLeading(): void {
    this.leadingSinceMs = this.deps.clock.now().getTime();
  }

  statusOf(host: Host, now: Date): HostStatus {
    if (now.getTime() - this.leadingSinceMs < this.toleranceMs()) return host.status;
    if (host.status === 'unhealthy') return 'unhealthy';
    return isHostAlive(host, this.deps.contacts.lastAnswerOf, now, this.heartbeatIntervalMs) ? 'healthy' : 'unhealthy';
  }

  /** Marks a host stored healthy whose heartbeat is overdue (once the grace is over); answers it, or undefined. */
  async markUnhealthyIfOverdue(host: Host, now: Date): Promise<Host | undefined> {
    if (host.status !== 'healthy' || this.statusOf(host, now) === 'healthy') return undefined;
    const marked = await this.deps.hosts.markUnhealthy(host.id, {
      at: now,
      heartbeatBefore: new Date(now.getTime() - this.toleranceMs()),
      message: `no heartbeat since ${host.lastHeartbeatAt.toISOString()}`,
    });
    if (marked !== undefined) {
      this.deps.log.warn({ hostId: host.id, hostName: host.name, lastHeartbeatAt: host.lastHeartbeatAt }, 'host unhealthy');
    }
    return marked;
  }

  private toleranceMs(): number {
    return heartbeatToleranceIntervals * this.heartbeatIntervalMs;
  }
}
