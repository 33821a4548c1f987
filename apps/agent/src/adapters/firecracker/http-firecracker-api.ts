import { Agent } from 'node:http';
import { AppError } from '@hearth/errors';
import { firecrackerRateLimiterPatch, rateLimiterFromFirecracker, type RateLimiter, type RateLimits } from '@hearth/contracts';
import type {
  DriveConfig,
  FirecrackerApi,
  FirecrackerClient,
  FirecrackerInstanceInfo,
  ForwardRequest,
  ForwardResponse,
  NetworkInterfaceConfig,
} from '../../application/ports/firecracker-api.js';
import { exchange } from '../http/http-exchange.js';
import {
  bootSourceBody,
  driveBody,
  loggerBody,
  machineConfigBody,
  metricsBody,
  mmdsConfigBody,
  networkInterfaceBody,
} from './firecracker-bodies.js';

export interface HttpFirecrackerApiOptions {
  /** Per request, the longest silence while waiting for its answer; InstanceStart answers only once the vCPUs run. */
  readonly requestTimeoutMs: number;
}

interface RawResponse {
  readonly statusCode: number;
  readonly contentType: string | undefined;
  readonly body: Buffer;
}

/** `{"fault_message": ...}` from the API layer, or micro_http's `{ "error": "...\n..." }` (not valid JSON). */
export function firecrackerErrorText(body: Buffer): string | undefined {
  const text = body.toString('utf8');
  try {
    const parsed = JSON.parse(text) as { fault_message?: unknown; error?: unknown };
    if (typeof parsed.fault_message === 'string') return parsed.fault_message;
    if (typeof parsed.error === 'string') return parsed.error;
  } catch {
    const match = /"error"\s*:\s*"([\s\S]*)"\s*}\s*$/.exec(text);
    if (match?.[1] !== undefined) return match[1];
  }
  return text.trim() === '' ? undefined : text.trim();
}

class HttpFirecrackerClient implements FirecrackerClient {
  constructor(
    private readonly agent: Agent,
    private readonly socketPath: string,
    private readonly timeoutMs: number,
  ) {}

  private async send(
    method: string,
    path: string,
    body: Buffer | undefined,
    headers: Record<string, string>,
  ): Promise<RawResponse> {
    try {
      const answer = await exchange(
        { protocol: 'http:', host: 'localhost', socketPath: this.socketPath, agent: this.agent },
        { method, path, headers, body, timeoutMs: this.timeoutMs },
      );
      const contentType = answer.headers['content-type'];
      return { statusCode: answer.statusCode, contentType, body: answer.body };
    } catch (error) {
      throw new AppError('FIRECRACKER_UNAVAILABLE', `The Firecracker API did not answer ${method} ${path}`, {
        details: { method, path },
        diagnostics: { socketPath: this.socketPath, error: error instanceof Error ? error.message : String(error) },
        cause: error,
      });
    }
  }

  private async call(method: 'GET' | 'PUT' | 'PATCH', path: string, json?: unknown): Promise<RawResponse> {
    const body = json === undefined ? undefined : Buffer.from(JSON.stringify(json));
    const response = await this.send(
      method,
      path,
      body,
      body === undefined ? { accept: 'application/json' } : { accept: 'application/json', 'content-type': 'application/json' },
    );
    if (response.statusCode >= 200 && response.statusCode < 300) return response;
    const faultMessage = firecrackerErrorText(response.body) ?? `HTTP ${response.statusCode}`;
    throw new AppError('FIRECRACKER_REJECTED', faultMessage, {
      details: { faultMessage, method, path, statusCode: response.statusCode },
    });
  }

  async describeInstance(): Promise<FirecrackerInstanceInfo> {
    const response = await this.call('GET', '/');
    const info = JSON.parse(response.body.toString('utf8')) as { id?: unknown; state?: unknown; vmm_version?: unknown };
    return { id: String(info.id ?? ''), state: String(info.state ?? ''), vmmVersion: String(info.vmm_version ?? '') };
  }

  async putLogger(config: { logPath: string; level: string }): Promise<void> {
    await this.call('PUT', '/logger', loggerBody(config));
  }

  async putMetrics(config: { metricsPath: string }): Promise<void> {
    await this.call('PUT', '/metrics', metricsBody(config));
  }

  async putMachineConfig(config: { vcpuCount: number; memoryMib: number }): Promise<void> {
    await this.call('PUT', '/machine-config', machineConfigBody(config));
  }

  async putBootSource(config: { kernelImagePath: string; bootArgs: string }): Promise<void> {
    await this.call('PUT', '/boot-source', bootSourceBody(config));
  }

  async putDrive(config: DriveConfig): Promise<void> {
    await this.call('PUT', `/drives/${config.driveId}`, driveBody(config));
  }

  async putNetworkInterface(config: NetworkInterfaceConfig): Promise<void> {
    await this.call('PUT', `/network-interfaces/${config.ifaceId}`, networkInterfaceBody(config));
  }

  async patchDriveRateLimiter(config: { driveId: string; rateLimiter: RateLimiter | undefined }): Promise<void> {
    await this.call('PATCH', `/drives/${config.driveId}`, {
      drive_id: config.driveId,
      rate_limiter: firecrackerRateLimiterPatch(config.rateLimiter),
    });
  }

  async patchNetworkRateLimiters(config: {
    ifaceId: string;
    rxRateLimiter: RateLimiter | undefined;
    txRateLimiter: RateLimiter | undefined;
  }): Promise<void> {
    await this.call('PATCH', `/network-interfaces/${config.ifaceId}`, {
      iface_id: config.ifaceId,
      rx_rate_limiter: firecrackerRateLimiterPatch(config.rxRateLimiter),
      tx_rate_limiter: firecrackerRateLimiterPatch(config.txRateLimiter),
    });
  }

  async readRateLimits(devices: { driveId: string; ifaceId: string }): Promise<RateLimits> {
    const response = await this.call('GET', '/vm/config');
    const config = JSON.parse(response.body.toString('utf8')) as {
      drives?: { drive_id?: unknown; rate_limiter?: unknown }[];
      'network-interfaces'?: { iface_id?: unknown; rx_rate_limiter?: unknown; tx_rate_limiter?: unknown }[];
    };
    const drive = (config.drives ?? []).find((d) => d.drive_id === devices.driveId);
    const iface = (config['network-interfaces'] ?? []).find((i) => i.iface_id === devices.ifaceId);
    const networkRx = rateLimiterFromFirecracker(iface?.rx_rate_limiter);
    const networkTx = rateLimiterFromFirecracker(iface?.tx_rate_limiter);
    const driveLimiter = rateLimiterFromFirecracker(drive?.rate_limiter);
    return {
      ...(networkRx === undefined ? {} : { networkRx }),
      ...(networkTx === undefined ? {} : { networkTx }),
      ...(driveLimiter === undefined ? {} : { drive: driveLimiter }),
    };
  }

  async putMmdsConfig(config: { networkInterfaces: readonly string[] }): Promise<void> {
    await this.call('PUT', '/mmds/config', mmdsConfigBody(config));
  }

  async putMmds(data: unknown): Promise<void> {
    await this.call('PUT', '/mmds', data);
  }

  async startInstance(): Promise<void> {
    await this.call('PUT', '/actions', { action_type: 'InstanceStart' });
  }

  async flushMetrics(): Promise<void> {
    await this.call('PUT', '/actions', { action_type: 'FlushMetrics' });
  }

  async pauseVm(): Promise<void> {
    await this.call('PATCH', '/vm', { state: 'Paused' });
  }

  async resumeVm(): Promise<void> {
    await this.call('PATCH', '/vm', { state: 'Resumed' });
  }

  async createSnapshot(config: { statePath: string; memoryPath: string; type: 'Full' | 'Diff' }): Promise<void> {
    await this.call('PUT', '/snapshot/create', {
      snapshot_type: config.type,
      snapshot_path: config.statePath,
      mem_file_path: config.memoryPath,
    });
  }

  async loadSnapshot(config: {
    statePath: string;
    memoryPath: string;
    networkOverrides: readonly { ifaceId: string; hostDevName: string }[];
  }): Promise<void> {
    await this.call('PUT', '/snapshot/load', {
      snapshot_path: config.statePath,
      mem_backend: { backend_type: 'File', backend_path: config.memoryPath },
      network_overrides: config.networkOverrides.map((o) => ({ iface_id: o.ifaceId, host_dev_name: o.hostDevName })),
      // Not saved in the snapshot: a restored guest is tracked again, so its next snapshot can be a diff.
      track_dirty_pages: true,
      resume_vm: false,
    });
  }

  async forward(request: ForwardRequest): Promise<ForwardResponse> {
    const headers: Record<string, string> = {};
    if (request.contentType !== undefined) headers['content-type'] = request.contentType;
    if (request.correlationId !== undefined) headers['x-request-id'] = request.correlationId;
    const hasBody =
      request.body !== undefined && (request.body.length > 0 || request.method === 'PUT' || request.method === 'PATCH');
    return this.send(request.method, `/${request.path}`, hasBody ? request.body : undefined, headers);
  }
}

/** How long a connection to a VMM stays open with nothing to send. */
const idleConnectionMs = 2_000;

/**
 * Firecracker's API over its Unix socket, with Node's HTTP client. One keep-alive connection per
 * VMM at a time (Firecracker answers requests one by one anyway), kept through an apply's burst of
 * calls and closed after two idle seconds: hundreds of idle connections would cost the Agent memory
 * for nothing. The connections of every VMM share one pool, keyed by socket path.
 */
export class HttpFirecrackerApi implements FirecrackerApi {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 1, maxFreeSockets: 1, timeout: idleConnectionMs });

  constructor(private readonly options: HttpFirecrackerApiOptions) {}

  client(socketPath: string): FirecrackerClient {
    return new HttpFirecrackerClient(this.agent, socketPath, this.options.requestTimeoutMs);
  }

  /** Closes the idle connection to a VMM that is gone (a busy one closes when its VMM does). */
  release(socketPath: string): Promise<void> {
    for (const [name, sockets] of Object.entries(this.agent.freeSockets)) {
      if (name.endsWith(`:${socketPath}`)) for (const socket of sockets ?? []) socket.destroy();
    }
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.agent.destroy();
    return Promise.resolve();
  }
}
