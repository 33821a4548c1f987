import type { HostHeartbeat, HostRegistration } from '@hearth/contracts';
import type { HeartbeatOutcome, ManagerApi, RegisterOutcome } from '../../application/ports/manager-api.js';

/** A scripted Manager: set `isReachable` / `knownHosts` and read what it received. */
export class FakeManagerApi implements ManagerApi {
  isReachable = true;
  heartbeatIntervalMs = 1000;
  readonly knownHosts = new Set<string>();
  readonly registrations: HostRegistration[] = [];
  readonly heartbeats: { hostId: string; heartbeat: HostHeartbeat }[] = [];
  private nextHost = 1;

  async register(registration: HostRegistration): Promise<RegisterOutcome> {
    if (!this.isReachable) return { kind: 'failed', reason: 'connect ECONNREFUSED' };
    this.registrations.push(registration);
    const id = `host_${this.nextHost++}`;
    this.knownHosts.add(id);
    return { kind: 'registered', host: { id, heartbeatIntervalMs: this.heartbeatIntervalMs } };
  }

  async heartbeat(hostId: string, heartbeat: HostHeartbeat): Promise<HeartbeatOutcome> {
    if (!this.isReachable) return { kind: 'failed', reason: 'connect ECONNREFUSED' };
    if (!this.knownHosts.has(hostId)) return { kind: 'unknown_host' };
    this.heartbeats.push({ hostId, heartbeat });
    return { kind: 'ok' };
  }
}
