import {
  agentApiPrefix,
  AgentVm,
  ApplyVmResult,
  CleanupResult,
  clusterIdHeader,
  dataRegionStreamType,
  EgressPolicyResult,
  RateLimitsResult,
  type RateLimits,
  Inventory,
  type InventoryQuery,
  SnapshotCopyResult,
  SnapshotResult,
  type CreateSnapshotRequest,
  type SnapshotCopyRequest,
  type EgressPolicy,
  type VmSpec,
} from '@hearth/contracts';
import { AppError, isErrorCode, type FieldError } from '@hearth/errors';
import { currentCorrelationId, requestIdHeader } from '@hearth/http-server';
import type { TSchema } from 'typebox';
import { Compile, type Validator } from 'typebox/compile';
import { request, type Dispatcher } from 'undici';
import type {
  AgentClient,
  AgentConsoleConnection,
  AgentMetricsText,
  AgentTarget,
  InventoryAnswer,
  StopVmOptions,
} from '../../application/ports/agent-client.js';
import type { SnapshotId, VmId } from '../../domain/ids.js';
import type { SnapshotFileEncoding } from '../../domain/snapshot-compatibility.js';
import {
  AgentTlsPools,
  agentIdentityMismatchCode,
  type AgentCallKind,
  type AgentTlsCredentials,
  type PinnedAgent,
} from './agent-tls-pools.js';
import { openAgentConsole } from './ws-agent-console.js';

export interface HttpAgentClientOptions {
  /** Time allowed for `PUT /vms/:id` (it copies a rootfs and boots a VMM). */
  readonly applyTimeoutMs: number;
  /** Time allowed for every other call. */
  readonly requestTimeoutMs: number;
  /** Time allowed for `GET /inventory` (the reconciler's read; short, so one stuck Agent cannot stall it). */
  readonly inventoryTimeoutMs?: number;
  /**
   * Time allowed for `GET /metrics` to begin its answer, and between two chunks of it (every VMM of
   * the host flushes first, at most 1 s each, in parallel); default 5 s, within Prometheus's
   * default scrape timeout of 10 s.
   */
  readonly metricsTimeoutMs?: number;
  /** For tests: e.g. an undici Agent connecting to a Unix socket. */
  readonly dispatcher?: Dispatcher;
  /** Sent on every call (`x-hearth-cluster-id`): an Agent that belongs to another cluster refuses the call. */
  readonly clusterId?: string;
  /**
   * Mutual TLS: every call goes to an https address, pinned to the host's Agent identity and
   * credential. Without it, calls are plain (tests of the Agent API over a Unix socket).
   */
  readonly tls?: AgentTlsCredentials;
  /**
   * Time allowed for one file of a snapshot copy (its whole transfer from one Agent to another);
   * default ten times `applyTimeoutMs`. Between two chunks no more than `requestTimeoutMs` may pass.
   */
  readonly copyFileTimeoutMs?: number;
  /** Told of every answer an Agent gave (any status): the Agent at `addr` is alive. */
  readonly onAnswer?: (addr: string) => void;
  /** How long a connection opened ahead (`openConnections`) waits for a call before it is closed; default 10 s. */
  readonly connectionAheadLifetimeMs?: number;
}

export const defaultAgentClientOptions: HttpAgentClientOptions = Object.freeze({
  applyTimeoutMs: 120_000,
  requestTimeoutMs: 15_000,
  inventoryTimeoutMs: 3_000,
  metricsTimeoutMs: 5_000,
});

/** Codes meaning the Manager's own request was at fault: the Manager's caller must not see them as theirs. */
const protocolCodes = new Set([
  'VALIDATION_FAILED',
  'MALFORMED_JSON',
  'ROUTE_NOT_FOUND',
  'METHOD_NOT_ALLOWED',
  'UNSUPPORTED_MEDIA_TYPE',
  'PAYLOAD_TOO_LARGE',
]);

/** The Agent's HTTP API through undici; forwards the current correlation id as `x-request-id`. */
export class HttpAgentClient implements AgentClient {
  /** Applies waiting for their answer, by Agent address, VM and spec. */
  private readonly applying = new Map<string, Promise<ApplyVmResult>>();

  private readonly tlsPools: AgentTlsPools | undefined;

  /** Copies under way, by target address and snapshot. */
  private readonly copying = new Map<string, Promise<void>>();

  constructor(private readonly options: HttpAgentClientOptions = defaultAgentClientOptions) {
    this.tlsPools = options.tls === undefined ? undefined : new AgentTlsPools(options.tls, options.connectionAheadLifetimeMs);
  }

  /** Closes the pooled TLS connections. */
  async close(): Promise<void> {
    await this.tlsPools?.close();
  }

  /**
   * A second apply of the same VM and spec on the same Agent while one is waiting for its answer
   * (the reconciler taking over a create whose request is still applying it) shares that answer
   * instead of queueing another apply behind it on the Agent: otherwise the first one's failure
   * would be undone on the host after the second had started the VM again.
   */
  applyVm(target: AgentTarget, vmId: VmId, spec: VmSpec): Promise<ApplyVmResult> {
    const key = `${target.addr} ${vmId} ${JSON.stringify(spec)}`;
    return shared(this.applying, key, () =>
      this.call<ApplyVmResult>(target, 'PUT', `/vms/${vmId}`, ApplyVmResult, this.options.applyTimeoutMs, spec),
    );
  }

  /** Over TLS only: a plain Agent (a test's, over a Unix socket) has no handshake to save. */
  openConnections(target: AgentTarget, count: number): void {
    if (this.tlsPools === undefined) return;
    let agent: PinnedAgent;
    try {
      agent = this.pinnedAgent(target, 'PUT', '/vms');
    } catch {
      return; // a host that cannot be called securely: its calls say so
    }
    this.tlsPools.openAhead(agent, count);
  }

  stopVm(target: AgentTarget, vmId: VmId, options: StopVmOptions = {}): Promise<CleanupResult> {
    const query = options.isNetworkKept === true ? '?network=keep' : '';
    return this.call(target, 'POST', `/vms/${vmId}/stop${query}`, CleanupResult, this.options.requestTimeoutMs);
  }

  deleteVm(target: AgentTarget, vmId: VmId): Promise<CleanupResult> {
    return this.call(target, 'DELETE', `/vms/${vmId}`, CleanupResult, this.options.requestTimeoutMs);
  }

  snapshotVm(target: AgentTarget, vmId: VmId, snapshotId: SnapshotId, body: CreateSnapshotRequest): Promise<SnapshotResult> {
    // As long as an apply may take: the pause, the memory dump and the disk copy grow with the VM.
    const path = `/vms/${vmId}/snapshots/${snapshotId}`;
    return this.call(target, 'POST', path, SnapshotResult, this.options.applyTimeoutMs, body);
  }

  deleteSnapshot(target: AgentTarget, vmId: VmId, snapshotId: SnapshotId): Promise<CleanupResult> {
    return this.call(target, 'DELETE', `/vms/${vmId}/snapshots/${snapshotId}`, CleanupResult, this.options.requestTimeoutMs);
  }

  /** One copy at a time of a snapshot to one Agent: a second request waits for the first's outcome. */
  copySnapshot(
    source: AgentTarget,
    target: AgentTarget,
    snapshotId: SnapshotId,
    body: SnapshotCopyRequest,
    encoding: SnapshotFileEncoding,
  ): Promise<void> {
    return shared(this.copying, `${target.addr} ${snapshotId}`, () => this.copyFiles(source, target, snapshotId, body, encoding));
  }

  deleteSnapshotCopy(target: AgentTarget, snapshotId: SnapshotId): Promise<CleanupResult> {
    return this.call(target, 'DELETE', `/snapshots/${snapshotId}`, CleanupResult, this.options.requestTimeoutMs);
  }

  /**
   * The target records the copy, then each file it lacks is streamed from the source's answer
   * into the target's request, never held whole in the Manager; the target checks its digest. The
   * source is asked for data regions only when the target takes them (`encoding`), and answers in
   * the media type it chose (an older source sends whole), handed on to the target as it is.
   */
  private async copyFiles(
    source: AgentTarget,
    target: AgentTarget,
    snapshotId: SnapshotId,
    body: SnapshotCopyRequest,
    encoding: SnapshotFileEncoding,
  ): Promise<void> {
    const accept =
      encoding === 'data_regions'
        ? `${dataRegionStreamType}, application/octet-stream, application/problem+json`
        : 'application/octet-stream, application/problem+json';
    const prepared: SnapshotCopyResult = await this.call(
      target,
      'PUT',
      `/snapshots/${snapshotId}`,
      SnapshotCopyResult,
      this.options.requestTimeoutMs,
      body,
    );
    const timeoutMs = this.options.copyFileTimeoutMs ?? this.options.applyTimeoutMs * 10;
    for (const file of prepared.missing) {
      const path = `/snapshots/${snapshotId}/files/${file}`;
      const signal = AbortSignal.timeout(timeoutMs);
      let sourceResponse: Dispatcher.ResponseData;
      try {
        sourceResponse = await request(this.urlOf(source, path), {
          method: 'GET',
          headers: this.headers({ accept }),
          headersTimeout: this.options.requestTimeoutMs,
          bodyTimeout: this.options.requestTimeoutMs,
          signal,
          ...this.dispatcherOption(source, 'GET', path),
        });
      } catch (error) {
        throw unreachable(error, source, 'GET', path);
      }
      this.options.onAnswer?.(source.addr);
      if (sourceResponse.statusCode !== 200) {
        throw problemToAppError(parseJson(await sourceResponse.body.text()), sourceResponse.statusCode, source, 'GET', path);
      }
      let statusCode: number;
      let text: string;
      try {
        const response = await request(this.urlOf(target, path), {
          method: 'PUT',
          // Whole, or a diff's memory file as its data regions: the target checks it is what it expects.
          headers: this.headers({
            'content-type': contentTypeOf(sourceResponse),
            accept: 'application/json, application/problem+json',
          }),
          body: sourceResponse.body,
          headersTimeout: timeoutMs,
          bodyTimeout: this.options.requestTimeoutMs,
          signal,
          ...this.dispatcherOption(target, 'PUT', path),
        });
        statusCode = response.statusCode;
        text = await response.body.text();
      } catch (error) {
        sourceResponse.body.destroy();
        throw unreachable(error, target, 'PUT', path);
      }
      this.options.onAnswer?.(target.addr);
      if (statusCode < 200 || statusCode >= 300) {
        sourceResponse.body.destroy();
        throw problemToAppError(parseJson(text), statusCode, target, 'PUT', path);
      }
    }
  }

  private urlOf(target: AgentTarget, path: string): string {
    return `${target.addr.replace(/\/+$/, '')}${agentApiPrefix}${path}`;
  }

  private headers(extra: Record<string, string>): Record<string, string> {
    const headers: Record<string, string> = { ...extra };
    const correlationId = currentCorrelationId();
    if (correlationId !== undefined) headers[requestIdHeader] = correlationId;
    if (this.options.clusterId !== undefined) headers[clusterIdHeader] = this.options.clusterId;
    return headers;
  }

  private dispatcherOption(target: AgentTarget, method: string, path: string): { dispatcher?: Dispatcher } {
    const dispatcher = this.dispatcherFor(target, method, path);
    return dispatcher === undefined ? {} : { dispatcher };
  }

  setVmEgress(target: AgentTarget, vmId: VmId, policy: EgressPolicy): Promise<EgressPolicyResult> {
    return this.call(target, 'PUT', `/vms/${vmId}/egress`, EgressPolicyResult, this.options.requestTimeoutMs, policy);
  }

  setVmRateLimits(target: AgentTarget, vmId: VmId, rateLimits: RateLimits): Promise<RateLimitsResult> {
    return this.call(target, 'PUT', `/vms/${vmId}/rate-limits`, RateLimitsResult, this.options.requestTimeoutMs, rateLimits);
  }

  inventory(target: AgentTarget, query: InventoryQuery = {}): Promise<Inventory> {
    return this.call(target, 'GET', inventoryPath(query), Inventory, this.inventoryTimeoutMs());
  }

  /** `GET /vms/:id`, bounded like an inventory read: the reconciler's read of one VM. */
  describeVm(target: AgentTarget, vmId: VmId): Promise<AgentVm> {
    return this.call(target, 'GET', `/vms/${vmId}`, AgentVm, this.inventoryTimeoutMs());
  }

  /** `GET /inventory` with `If-None-Match`: the Agent answers 304 while its inventory's ETag is the one sent. */
  async inventoryIfChanged(
    target: AgentTarget,
    knownTag: string | undefined,
    query: InventoryQuery = {},
  ): Promise<InventoryAnswer> {
    const path = inventoryPath(query);
    const { statusCode, text, etag } = await this.sendForText(
      target,
      'GET',
      path,
      this.inventoryTimeoutMs(),
      undefined,
      knownTag === undefined ? {} : { 'if-none-match': knownTag },
    );
    if (statusCode === 304 && knownTag !== undefined) return { kind: 'unchanged' };
    const inventory = this.checked<Inventory>(target, 'GET', path, Inventory, statusCode, parseJson(text));
    return { kind: 'changed', inventory, tag: etag };
  }

  private inventoryTimeoutMs(): number {
    return this.options.inventoryTimeoutMs ?? this.options.requestTimeoutMs;
  }

  async attachConsole(target: AgentTarget, vmId: VmId, backlogBytes: number): Promise<AgentConsoleConnection> {
    const path = `/vms/${vmId}/console/attach?backlog=${backlogBytes}`;
    const headers: Record<string, string> = {};
    const correlationId = currentCorrelationId();
    if (correlationId !== undefined) headers[requestIdHeader] = correlationId;
    if (this.options.clusterId !== undefined) headers[clusterIdHeader] = this.options.clusterId;
    const url = `${target.addr.replace(/\/+$/, '').replace(/^http/, 'ws')}${agentApiPrefix}${path}`;
    const tls = this.tlsPools === undefined ? {} : this.tlsPools.tlsOptionsFor(this.pinnedAgent(target, 'GET', path));
    const opening = await openAgentConsole(url, { headers, handshakeTimeout: this.options.requestTimeoutMs, ...tls });
    if (opening.kind === 'open') return opening.connection;
    if (opening.kind === 'failed') throw unreachable(opening.error, target, 'GET', path);
    throw problemToAppError(parseJson(opening.body), opening.statusCode, target, 'GET', path);
  }

  async consoleLog(target: AgentTarget, vmId: VmId, maxBytes: number): Promise<string> {
    const path = `/vms/${vmId}/console?bytes=${maxBytes}`;
    const { statusCode, text } = await this.sendForText(target, 'GET', path, this.options.requestTimeoutMs);
    if (statusCode === 200) return text;
    throw problemToAppError(parseJson(text), statusCode, target, 'GET', path);
  }

  /**
   * The answer's body is handed on as it arrives, never held whole: a host of many VMs answers
   * 25 series for each. Its start and every chunk are bounded by the metrics timeout.
   */
  async metrics(target: AgentTarget): Promise<AgentMetricsText> {
    const path = '/metrics';
    const timeoutMs = this.options.metricsTimeoutMs ?? defaultAgentClientOptions.metricsTimeoutMs!;
    // The connection and TLS handshake included (a stopped Agent's kernel still accepts the
    // connection); once the answer has begun, only the body's pauses are bounded.
    const answerBegun = new AbortController();
    const timer = setTimeout(() => answerBegun.abort(new DOMException('no answer in time', 'TimeoutError')), timeoutMs);
    let response: Dispatcher.ResponseData;
    try {
      response = await request(this.urlOf(target, path), {
        method: 'GET',
        headers: this.headers({ accept: 'text/plain, application/problem+json' }),
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        signal: answerBegun.signal,
        ...this.dispatcherOption(target, 'GET', path),
      });
    } catch (error) {
      throw unreachable(error, target, 'GET', path);
    } finally {
      clearTimeout(timer);
    }
    this.options.onAnswer?.(target.addr);
    if (response.statusCode !== 200) {
      let text: string;
      try {
        text = await response.body.text();
      } catch (error) {
        throw unreachable(error, target, 'GET', path);
      }
      throw problemToAppError(parseJson(text), response.statusCode, target, 'GET', path);
    }
    return { body: response.body };
  }

  pauseVm(target: AgentTarget, vmId: VmId): Promise<void> {
    return this.setVmState(target, vmId, 'Paused');
  }

  resumeVm(target: AgentTarget, vmId: VmId): Promise<void> {
    return this.setVmState(target, vmId, 'Resumed');
  }

  /** Through the Agent's Firecracker proxy: Firecracker's own errors come back as `{fault_message}`. */
  private async setVmState(target: AgentTarget, vmId: VmId, state: 'Paused' | 'Resumed'): Promise<void> {
    const path = `/vms/${vmId}/proxy/vm`;
    const { statusCode, json } = await this.send(target, 'PATCH', path, this.options.requestTimeoutMs, { state });
    if (statusCode >= 200 && statusCode < 300) return;
    const faultMessage = (json as { fault_message?: unknown } | undefined)?.fault_message;
    if (typeof faultMessage === 'string') {
      throw new AppError('FIRECRACKER_REJECTED', faultMessage, {
        details: { faultMessage, vmId },
        diagnostics: { agentAddr: target.addr },
      });
    }
    throw problemToAppError(json, statusCode, target, 'PATCH', path);
  }

  private async call<T>(
    target: AgentTarget,
    method: Dispatcher.HttpMethod,
    path: string,
    schema: TSchema,
    timeoutMs: number,
    body?: unknown,
  ): Promise<T> {
    const { statusCode, json } = await this.send(target, method, path, timeoutMs, body);
    return this.checked<T>(target, method, path, schema, statusCode, json);
  }

  /** A 2xx answer whose body matches `schema`, or the AppError the answer means. */
  private checked<T>(target: AgentTarget, method: string, path: string, schema: TSchema, statusCode: number, json: unknown): T {
    if (statusCode >= 200 && statusCode < 300) {
      if (!validatorOf(schema).Check(json)) {
        throw new AppError('AGENT_REJECTED', `The Agent answered ${method} ${path} with an unexpected body`, {
          details: { status: statusCode },
          diagnostics: { agentAddr: target.addr },
        });
      }
      return json as T;
    }
    throw problemToAppError(json, statusCode, target, method, path);
  }

  private async send(
    target: AgentTarget,
    method: Dispatcher.HttpMethod,
    path: string,
    timeoutMs: number,
    body?: unknown,
  ): Promise<{ statusCode: number; json: unknown }> {
    const { statusCode, text } = await this.sendForText(target, method, path, timeoutMs, body);
    return { statusCode, json: parseJson(text) };
  }

  private async sendForText(
    target: AgentTarget,
    method: Dispatcher.HttpMethod,
    path: string,
    timeoutMs: number,
    body?: unknown,
    extraHeaders: Readonly<Record<string, string>> = {},
  ): Promise<{ statusCode: number; text: string; etag: string | undefined }> {
    const url = `${target.addr.replace(/\/+$/, '')}${agentApiPrefix}${path}`;
    const dispatcher = this.dispatcherFor(target, method, path);
    const headers: Record<string, string> = { accept: 'application/json, application/problem+json, text/plain', ...extraHeaders };
    const correlationId = currentCorrelationId();
    if (correlationId !== undefined) headers[requestIdHeader] = correlationId;
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.options.clusterId !== undefined) headers[clusterIdHeader] = this.options.clusterId;
    let statusCode: number;
    let text: string;
    let etag: string | undefined;
    try {
      const response = await request(url, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        // From the moment the call has a connection (its wait for one in a bounded pool not counted,
        // ADR 0114), to the answer's start and between its chunks; the connection's own making is
        // bounded by its connector (5 s with TLS).
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        ...(dispatcher === undefined ? {} : { dispatcher }),
      });
      statusCode = response.statusCode;
      const etagHeader = response.headers.etag;
      etag = typeof etagHeader === 'string' ? etagHeader : undefined;
      text = await response.body.text();
    } catch (error) {
      throw unreachable(error, target, method, path);
    }
    this.options.onAnswer?.(target.addr);
    return { statusCode, text, etag };
  }

  /** With TLS, the pool pinned to the host's Agent; a host that cannot be called securely is unavailable. */
  private dispatcherFor(target: AgentTarget, method: string, path: string): Dispatcher | undefined {
    if (this.tlsPools === undefined) return this.options.dispatcher;
    return this.tlsPools.poolFor(this.pinnedAgent(target, method, path), callKindOf(method, path));
  }

  /** Whom a call over TLS must reach; a host that cannot be called securely is unavailable. */
  private pinnedAgent(target: AgentTarget, method: string, path: string): PinnedAgent {
    const { agentId, credentialId } = target;
    const isHttps = target.addr.startsWith('https://');
    if (!isHttps || agentId === undefined || agentId === null || credentialId === undefined || credentialId === null) {
      const reason = isHttps ? 'agent_not_joined' : 'agent_not_tls';
      throw new AppError('AGENT_UNAVAILABLE', `The host's Agent cannot be called securely (${method} ${path}): ${reason}`, {
        details: { reason },
        diagnostics: { agentAddr: target.addr },
      });
    }
    return { origin: new URL(target.addr).origin, agentId, credentialId };
  }
}

/**
 * Every `GET` is a short read (the inventory, one VM, the metrics, a console log) but a snapshot
 * file's, which streams a whole file from the copy's source.
 */
function callKindOf(method: string, path: string): AgentCallKind {
  return method === 'GET' && !path.startsWith('/snapshots/') ? 'read' : 'call';
}

function inventoryPath(query: InventoryQuery): string {
  return query.resources === undefined ? '/inventory' : `/inventory?resources=${query.resources}`;
}

/** The operation under way for `key` when there is one, else `start()`'s, kept in `inFlight` until it settles. */
/** The media type a snapshot file came in, handed on as it is (one header value; octet-stream when absent). */
function contentTypeOf(response: Dispatcher.ResponseData): string {
  const value = response.headers['content-type'];
  const type = Array.isArray(value) ? value[0] : value;
  return type ?? 'application/octet-stream';
}

function shared<T>(inFlight: Map<string, Promise<T>>, key: string, start: () => Promise<T>): Promise<T> {
  const running = inFlight.get(key);
  if (running !== undefined) return running;
  const started = start();
  void started.then(
    () => inFlight.delete(key),
    () => inFlight.delete(key),
  );
  inFlight.set(key, started);
  return started;
}

/** Whatever stops a request from getting an answer (refused, reset, DNS, timeout) means AGENT_UNAVAILABLE. */
function unreachable(error: unknown, target: AgentTarget, method: string, path: string): AppError {
  const code = errorCode(error);
  const isTimeout =
    code === 'UND_ERR_HEADERS_TIMEOUT' ||
    code === 'UND_ERR_BODY_TIMEOUT' ||
    code === 'UND_ERR_CONNECT_TIMEOUT' ||
    (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError'));
  const why = isTimeout
    ? 'did not answer in time'
    : code === agentIdentityMismatchCode
      ? "presented a certificate that is not this host's"
      : 'cannot be reached';
  // Which address the host's Agent has is how the cluster is built: for the log, not the caller.
  return new AppError('AGENT_UNAVAILABLE', `The host's Agent ${why} (${method} ${path})`, {
    details: { reason: isTimeout ? 'timeout' : (code ?? 'connection_failed') },
    diagnostics: { agentAddr: target.addr },
    cause: error,
  });
}

function errorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current !== undefined && current !== null; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** One compiled validator per answer schema: compiled once, where checking by interpretation costs each answer. */
const validators = new WeakMap<TSchema, Validator>();

function validatorOf(schema: TSchema): Validator {
  let validator = validators.get(schema);
  if (validator === undefined) {
    validator = Compile(schema);
    validators.set(schema, validator);
  }
  return validator;
}

function parseJson(text: string): unknown {
  if (text.length === 0) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

interface ProblemBody {
  code?: unknown;
  correlationId?: unknown;
  detail?: unknown;
  details?: unknown;
  errors?: unknown;
}

/** The Agent's problem+json becomes the same AppError it was on the Agent; anything else is AGENT_REJECTED. */
function problemToAppError(json: unknown, statusCode: number, target: AgentTarget, method: string, path: string): AppError {
  const problem = (typeof json === 'object' && json !== null ? json : {}) as ProblemBody;
  if (isErrorCode(problem.code) && !protocolCodes.has(problem.code)) {
    const details =
      typeof problem.details === 'object' && problem.details !== null ? (problem.details as Record<string, unknown>) : {};
    const errors = Array.isArray(problem.errors) ? (problem.errors as FieldError[]) : undefined;
    return new AppError(problem.code, typeof problem.detail === 'string' ? problem.detail : `Agent answered ${statusCode}`, {
      ...(Object.keys(details).length === 0 ? {} : { details }),
      // The Agent's log holds the rest under the same correlation id.
      diagnostics: { agentAddr: target.addr, agentCorrelationId: problem.correlationId },
      ...(errors === undefined ? {} : { errors }),
    });
  }
  const detail = typeof problem.detail === 'string' ? `: ${problem.detail}` : '';
  return new AppError('AGENT_REJECTED', `The Agent answered ${method} ${path} with status ${statusCode}${detail}`, {
    details: {
      status: statusCode,
      ...(typeof problem.code === 'string' ? { agentCode: problem.code } : {}),
    },
    diagnostics: { agentAddr: target.addr, agentCorrelationId: problem.correlationId },
  });
}
