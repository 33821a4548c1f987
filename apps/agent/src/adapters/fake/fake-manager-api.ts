import type { HostHeartbeat, HostRegistration } from '@hearth/contracts';
import type {
  HeartbeatOutcome,
  JoinOutcome,
  ManagerApi,
  RegisterOutcome,
  RenewOutcome,
} from '../../application/ports/manager-api.js';

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
  /** Join tokens it accepts (each once); renewals answer certificates `renewed-<n>`. */
  readonly joinTokens = new Set<string>();
  /** When set, joins and renewals are answered with this refusal code. */
  trustRefusal: string | null = null;
  readonly joins: { joinToken: string; agentId: string; publicKeyPem: string }[] = [];
  readonly renewals: string[] = [];
  private nextHost = 1;

  async join(joinToken: string, request: { readonly agentId: string; readonly publicKeyPem: string }): Promise<JoinOutcome> {
    if (!this.isReachable) return { kind: 'failed', reason: 'connect ECONNREFUSED' };
    this.joins.push({ joinToken, ...request });
    if (this.trustRefusal !== null) return { kind: 'refused', code: this.trustRefusal, reason: this.trustRefusal };
    if (!this.joinTokens.delete(joinToken)) return { kind: 'refused', code: 'JOIN_TOKEN_INVALID', reason: 'unknown token' };
    return {
      kind: 'joined',
      joined: { clusterId: this.clusterId, caCertificate: 'ca', certificate: 'joined', credential: 'hhc_fake' },
    };
  }

  async renewCertificate(publicKeyPem: string): Promise<RenewOutcome> {
    if (!this.isReachable) return { kind: 'failed', reason: 'connect ECONNREFUSED' };
    if (this.trustRefusal !== null) return { kind: 'refused', code: this.trustRefusal, reason: this.trustRefusal };
    this.renewals.push(publicKeyPem);
    return { kind: 'renewed', renewed: { caCertificate: 'ca', certificate: `renewed-${this.renewals.length}` } };
  }

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
