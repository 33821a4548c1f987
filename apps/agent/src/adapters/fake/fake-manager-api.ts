import type { HostHeartbeat, HostRegistration } from '@hearth/contracts';
import type { HeartbeatOutcome, ManagerApi, RegisterOutcome } from '../../application/ports/manager-api.js';

/** A scripted Manager: set `isReachable` / `knownHosts` and read what it received. */
export class FakeManagerApi implements ManagerApi {
  isReachable = true;
  heartbeatIntervalMs = 1000;
  clusterId = 'cluster_00000000000000000000000000000001';
  /** When set, registrations are answered 409 with this code. */
  refusal: string | null = null;
  readonly knownHosts = new Set<string>();
  readonly registrations: HostRegistration[] = [];
  readonly heartbeats: { hostId: string; heartbeat: HostHeartbeat }[] = [];
  private nextHost = 1;

  async register(registration: HostRegistration): Promise<RegisterOutcome> {
    if (!this.isReachable) return { kind: 'failed', reason: 'connect ECONNREFUSED' };
    this.registrations.push(registration);
    if (this.refusal !== null) return { kind: 'refused', code: this.refusal, reason: `HTTP 409 ${this.refusal}` };
    const id = `host_${this.nextHost++}`;
    this.knownHosts.add(id);
    return { kind: 'registered', host: { id, heartbeatIntervalMs: this.heartbeatIntervalMs, clusterId: this.clusterId } };
  }

  async heartbeat(hostId: string, heartbeat: HostHeartbeat): Promise<HeartbeatOutcome> {
    if (!this.isReachable) return { kind: 'failed', reason: 'connect ECONNREFUSED' };
    if (!this.knownHosts.has(hostId)) return { kind: 'unknown_host' };
    this.heartbeats.push({ hostId, heartbeat });
    return { kind: 'ok' };
  }
}
