import { request } from 'undici';
import type { HostHeartbeat, HostRegistered, HostRegistration } from '@hearth/contracts';
import type { HeartbeatOutcome, ManagerApi, RegisterOutcome } from '../../application/ports/manager-api.js';

export interface HttpManagerApiOptions {
  /** e.g. `http://127.0.0.1:8080` */
  readonly baseUrl: string;
  readonly timeoutMs: number;
}

/** The Manager's `/v1/hosts` endpoints over HTTP. Failures come back as outcomes, never thrown. */
export class HttpManagerApi implements ManagerApi {
  private readonly base: string;

  constructor(private readonly options: HttpManagerApiOptions) {
    this.base = options.baseUrl.endsWith('/') ? options.baseUrl : `${options.baseUrl}/`;
  }

  private async post(path: string, body: unknown): Promise<{ statusCode: number; text: string }> {
    const response = await request(new URL(path, this.base), {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(body),
      headersTimeout: this.options.timeoutMs,
      bodyTimeout: this.options.timeoutMs,
    });
    return { statusCode: response.statusCode, text: await response.body.text() };
  }

  async register(registration: HostRegistration): Promise<RegisterOutcome> {
    try {
      const { statusCode, text } = await this.post('v1/hosts/register', registration);
      if (statusCode !== 200 && statusCode !== 201)
        return { kind: 'failed', reason: `HTTP ${statusCode}: ${text.slice(0, 500)}` };
      const host = JSON.parse(text) as Partial<HostRegistered>;
      if (typeof host.id !== 'string' || typeof host.heartbeatIntervalMs !== 'number') {
        return { kind: 'failed', reason: `unexpected registration answer: ${text.slice(0, 500)}` };
      }
      return { kind: 'registered', host: { id: host.id, heartbeatIntervalMs: host.heartbeatIntervalMs } };
    } catch (error) {
      return { kind: 'failed', reason: error instanceof Error ? error.message : String(error) };
    }
  }

  async heartbeat(hostId: string, heartbeat: HostHeartbeat): Promise<HeartbeatOutcome> {
    try {
      const { statusCode, text } = await this.post(`v1/hosts/${encodeURIComponent(hostId)}/heartbeat`, heartbeat);
      if (statusCode >= 200 && statusCode < 300) return { kind: 'ok' };
      if (statusCode === 404) return { kind: 'unknown_host' };
      return { kind: 'failed', reason: `HTTP ${statusCode}: ${text.slice(0, 500)}` };
    } catch (error) {
      return { kind: 'failed', reason: error instanceof Error ? error.message : String(error) };
    }
  }
}
