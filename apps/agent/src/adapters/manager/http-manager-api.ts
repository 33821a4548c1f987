import http from 'node:http';
import https from 'node:https';
import type { CertificateRenewed, HostHeartbeat, HostJoined, HostRegistered, HostRegistration } from '@hearth/contracts';
import type {
  HeartbeatOutcome,
  JoinOutcome,
  ManagerApi,
  RegisterOutcome,
  RenewOutcome,
} from '../../application/ports/manager-api.js';
import { exchange, type HttpTarget } from '../http/http-exchange.js';

export interface HttpManagerApiOptions {
  /** The Manager replicas, e.g. `['http://10.0.0.1:8080', 'http://10.0.0.2:8080']`; at least one. */
  readonly baseUrls: readonly string[];
  readonly timeoutMs: number;
  /** The host credential (`hhc_…`) sent on every call but the join; undefined before the Agent joined. */
  readonly credential?: () => string | undefined;
  /**
   * After a Manager refused the inventory tag, how many heartbeats go without it before one carries it
   * again (default 60: five minutes at the default interval), so an upgraded Manager gets it back
   * without the Agent restarting.
   */
  readonly untaggedHeartbeatsAfterRefusal?: number;
}

/** Answers that say "not you" or "not so": asking again unchanged will not help. */
const refusalStatuses = new Set([401, 403, 409]);

/** Answers that say "this replica cannot serve now", not "the request is wrong". */
const unavailableStatuses = new Set([502, 503, 504]);

/**
 * The Manager's `/v1/hosts` endpoints over HTTP. Failures come back as outcomes, never thrown.
 *
 * With several replicas (and no load balancer in front), a request goes to the one that answered
 * last; when it cannot be reached or answers 502/503/504, the next is tried, each once per request.
 * Any replica will do: they share the database, and the leader's reconciler reads heartbeats from
 * it. So a host stays healthy while at least one replica is up.
 */
export class HttpManagerApi implements ManagerApi {
  private readonly bases: readonly string[];
  private current = 0;
  /** Keep-alive connections to the replicas, one pool per protocol (idle ones hold no process open). */
  private readonly agents = { 'http:': new http.Agent({ keepAlive: true }), 'https:': new https.Agent({ keepAlive: true }) };

  constructor(private readonly options: HttpManagerApiOptions) {
    if (options.baseUrls.length === 0) throw new Error('HttpManagerApi needs at least one base URL');
    this.bases = options.baseUrls.map((url) => (url.endsWith('/') ? url : `${url}/`));
  }

  private targetOf(url: URL): HttpTarget {
    const protocol = url.protocol === 'https:' ? 'https:' : 'http:';
    return {
      protocol,
      // A bracketed IPv6 literal is connected to without its brackets.
      host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: url.port === '' ? undefined : Number(url.port),
      agent: this.agents[protocol],
    };
  }

  private async post(path: string, body: unknown, bearer?: string): Promise<{ statusCode: number; text: string }> {
    const payload = Buffer.from(JSON.stringify(body));
    const secret = bearer ?? this.options.credential?.();
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
    if (secret !== undefined) headers['authorization'] = `Bearer ${secret}`;
    let lastError: unknown;
    for (let tried = 0; tried < this.bases.length; tried += 1) {
      const index = (this.current + tried) % this.bases.length;
      try {
        const url = new URL(path, this.bases[index]);
        const response = await exchange(this.targetOf(url), {
          method: 'POST',
          path: `${url.pathname}${url.search}`,
          headers,
          body: payload,
          timeoutMs: this.options.timeoutMs,
        });
        const answer = { statusCode: response.statusCode, text: response.body.toString('utf8') };
        if (unavailableStatuses.has(answer.statusCode) && tried < this.bases.length - 1) {
          lastError = new Error(`${this.bases[index]} answered HTTP ${answer.statusCode}`);
          continue;
        }
        this.current = index;
        return answer;
      } catch (error) {
        lastError = error;
      }
    }
    throw lastError instanceof Error ? lastError : new Error(String(lastError));
  }

  async join(joinToken: string, request: { readonly agentId: string; readonly publicKeyPem: string }): Promise<JoinOutcome> {
    try {
      const { statusCode, text } = await this.post(
        'v1/hosts/join',
        { agentId: request.agentId, publicKey: request.publicKeyPem },
        joinToken,
      );
      if (refusalStatuses.has(statusCode)) return { kind: 'refused', code: problemCode(text), reason: text.slice(0, 500) };
      if (statusCode !== 200) return { kind: 'failed', reason: `HTTP ${statusCode}: ${text.slice(0, 500)}` };
      const joined = JSON.parse(text) as Partial<HostJoined>;
      if (
        typeof joined.clusterId !== 'string' ||
        typeof joined.caCertificate !== 'string' ||
        typeof joined.certificate !== 'string' ||
        typeof joined.credential !== 'string'
      ) {
        return { kind: 'failed', reason: `unexpected join answer: ${text.slice(0, 200)}` };
      }
      return { kind: 'joined', joined: joined as HostJoined };
    } catch (error) {
      return { kind: 'failed', reason: error instanceof Error ? error.message : String(error) };
    }
  }

  async renewCertificate(publicKeyPem: string): Promise<RenewOutcome> {
    try {
      const { statusCode, text } = await this.post('v1/hosts/certificate', { publicKey: publicKeyPem });
      if (refusalStatuses.has(statusCode)) return { kind: 'refused', code: problemCode(text), reason: text.slice(0, 500) };
      if (statusCode !== 200) return { kind: 'failed', reason: `HTTP ${statusCode}: ${text.slice(0, 500)}` };
      const renewed = JSON.parse(text) as Partial<CertificateRenewed>;
      if (typeof renewed.caCertificate !== 'string' || typeof renewed.certificate !== 'string') {
        return { kind: 'failed', reason: `unexpected renewal answer: ${text.slice(0, 200)}` };
      }
      return { kind: 'renewed', renewed: renewed as CertificateRenewed };
    } catch (error) {
      return { kind: 'failed', reason: error instanceof Error ? error.message : String(error) };
    }
  }

  async register(registration: HostRegistration): Promise<RegisterOutcome> {
    try {
      const { statusCode, text } = await this.post('v1/hosts/register', registration);
      if (refusalStatuses.has(statusCode)) return { kind: 'refused', code: problemCode(text), reason: text.slice(0, 500) };
      if (statusCode !== 200 && statusCode !== 201)
        return { kind: 'failed', reason: `HTTP ${statusCode}: ${text.slice(0, 500)}` };
      const host = JSON.parse(text) as Partial<HostRegistered>;
      if (typeof host.id !== 'string' || typeof host.heartbeatIntervalMs !== 'number' || typeof host.clusterId !== 'string') {
        return { kind: 'failed', reason: `unexpected registration answer: ${text.slice(0, 500)}` };
      }
      return {
        kind: 'registered',
        host: { id: host.id, heartbeatIntervalMs: host.heartbeatIntervalMs, clusterId: host.clusterId },
      };
    } catch (error) {
      return { kind: 'failed', reason: error instanceof Error ? error.message : String(error) };
    }
  }

  /**
   * A heartbeat with its inventory tag was refused as invalid: a Manager that predates the field
   * (its schema refuses unknown fields). The next heartbeats go without it, and that Manager reads the
   * inventory as it always did; every `untaggedHeartbeatsAfterRefusal`-th carries it again, in case the
   * Manager has been upgraded since. Counts the untagged heartbeats still to send; 0 when none.
   */
  private untaggedHeartbeatsLeft = 0;

  async heartbeat(hostId: string, heartbeat: HostHeartbeat): Promise<HeartbeatOutcome> {
    const { inventoryTag, ...untagged } = heartbeat;
    const isTagHeld = inventoryTag !== undefined && this.untaggedHeartbeatsLeft > 0;
    if (isTagHeld) this.untaggedHeartbeatsLeft -= 1;
    try {
      const { statusCode, text } = await this.post(
        `v1/hosts/${encodeURIComponent(hostId)}/heartbeat`,
        isTagHeld ? untagged : heartbeat,
      );
      if (statusCode === 400 && inventoryTag !== undefined && !isTagHeld) {
        this.untaggedHeartbeatsLeft = this.options.untaggedHeartbeatsAfterRefusal ?? 60;
        return await this.heartbeat(hostId, untagged);
      }
      if (statusCode >= 200 && statusCode < 300) return { kind: 'ok' };
      if (statusCode === 404) return { kind: 'unknown_host' };
      return { kind: 'failed', reason: `HTTP ${statusCode}: ${text.slice(0, 500)}` };
    } catch (error) {
      return { kind: 'failed', reason: error instanceof Error ? error.message : String(error) };
    }
  }
}

function problemCode(text: string): string {
  try {
    const problem = JSON.parse(text) as { code?: unknown };
    return typeof problem.code === 'string' ? problem.code : 'CONFLICT';
  } catch {
    return 'CONFLICT';
  }
}
