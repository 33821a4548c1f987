import { bodyOf, type ApiClient } from './api-client.js';
import { paginate } from './paginate.js';
import type { DrainReport, Host, HostResources, JoinToken } from './types.js';

/** The hosts running an Agent (a token with `hosts:admin` only). */
export class Hosts {
  constructor(private readonly api: ApiClient) {}

  list(options: { readonly pageSize?: number } = {}): AsyncGenerator<Host> {
    return paginate((cursor: string | undefined) =>
      bodyOf(this.api.GET('/v1/hosts', { params: { query: { limit: options.pageSize, cursor } } })),
    );
  }

  async get(id: string): Promise<Host> {
    return bodyOf(this.api.GET('/v1/hosts/{id}', { params: { path: { id } } }));
  }

  /** The host gets no new VMs; its VMs keep running. */
  async cordon(id: string): Promise<Host> {
    return bodyOf(this.api.POST('/v1/hosts/{id}/cordon', { params: { path: { id } } }));
  }

  async uncordon(id: string): Promise<Host> {
    return bodyOf(this.api.POST('/v1/hosts/{id}/uncordon', { params: { path: { id } } }));
  }

  /** Cordons the host and stops its running and paused VMs, reporting each. */
  async drain(id: string): Promise<DrainReport> {
    return bodyOf(this.api.POST('/v1/hosts/{id}/drain', { params: { path: { id } } }));
  }

  /**
   * The host's Agent's Prometheus metrics (text exposition format 0.0.4), its per-VM Firecracker
   * counters included, read live through the Manager: a token with `metrics:read` (which
   * `hosts:admin` grants). AGENT_UNAVAILABLE when the Agent does not answer in time.
   */
  async metrics(id: string, options: { readonly signal?: AbortSignal } = {}): Promise<string> {
    return bodyOf(this.api.GET('/v1/hosts/{id}/metrics', { params: { path: { id } }, parseAs: 'text', signal: options.signal }));
  }

  /** What the host's Agent holds for each VM (TAPs, processes, files, firewall rules), read live. */
  async resources(id: string): Promise<HostResources> {
    return bodyOf(this.api.GET('/v1/hosts/{id}/resources', { params: { path: { id } } }));
  }

  /** A one-time token a new Agent joins the cluster with (`AGENT_JOIN_TOKEN`), valid `ttlSeconds` (default: the Manager's). */
  async createJoinToken(options: { readonly ttlSeconds?: number } = {}): Promise<JoinToken> {
    return bodyOf(
      this.api.POST('/v1/hosts/join-tokens', {
        body: options.ttlSeconds === undefined ? {} : { ttlSeconds: options.ttlSeconds },
      }),
    );
  }

  /** Removes a host that is gone for good (`force`: its VM records too). */
  async remove(id: string, options: { readonly force?: boolean } = {}): Promise<void> {
    await bodyOf(this.api.DELETE('/v1/hosts/{id}', { params: { path: { id }, query: { force: options.force } } }));
  }
}
