/** Wires logger, metrics, backend, VMM and the API server together. */
import { createApiHandler } from './api/api-server.js';
import { SimulatedBackend } from './backends/simulated.js';
import type { GuestBackend } from './backends/types.js';
import type { HttpRequest } from './http/parser.js';
import type { ApiResponse } from './http/response.js';
import { ApiHttpServer } from './http/server.js';
import type { LoggerOptions } from './logger.js';
import { Logger } from './logger.js';
import { Metrics } from './metrics.js';
import type { Sink } from './sink.js';
import { DEFAULT_INSTANCE_ID, DEFAULT_PAYLOAD_LIMIT } from './version.js';
import { Vmm } from './vmm/vmm.js';

export interface DoubleOptions {
  instanceId?: string;
  payloadLimit?: number;
  mmdsSizeLimit?: number;
  enablePci?: boolean;
  bootTimer?: boolean;
  logger?: LoggerOptions;
  /** Use this logger instead of creating one (the binary logs before the VMM is loaded). */
  loggerInstance?: Logger;
  logSink?: Sink;
  metricsSink?: Sink;
  /** Accept any TAP name without looking at /sys/class/net (default false). */
  isTapCheckSkipped?: boolean;
  /** Default: the simulated backend (the binary picks one with `loadBackend`, from FC_DOUBLE_BACKEND). */
  backend?: GuestBackend;
  /** The API socket path. */
  apiSock?: string;
  /** Guest exit (reboot) and fatal restore failures end here; the binary exits the process. */
  onExit?: (code: number) => void;
}

export interface DoubleInstance {
  logger: Logger;
  metrics: Metrics;
  vmm: Vmm;
  handler: (req: HttpRequest) => Promise<ApiResponse>;
}

export function createDouble(opts: DoubleOptions = {}): DoubleInstance {
  const instanceId = opts.instanceId ?? DEFAULT_INSTANCE_ID;
  const payloadLimit = opts.payloadLimit ?? DEFAULT_PAYLOAD_LIMIT;
  const logger = opts.loggerInstance ?? new Logger(instanceId);
  if (!opts.loggerInstance) logger.configure(opts.logger ?? {}, opts.logSink);
  const metrics = new Metrics();
  if (opts.metricsSink) metrics.init(opts.metricsSink);
  const vmm = new Vmm(
    {
      instanceId,
      enablePci: opts.enablePci ?? false,
      bootTimer: opts.bootTimer ?? false,
      mmdsSizeLimit: opts.mmdsSizeLimit ?? payloadLimit,
      isTapCheckSkipped: opts.isTapCheckSkipped ?? false,
    },
    logger,
    metrics,
    opts.backend ?? new SimulatedBackend(),
  );
  const onExit = opts.onExit ?? (() => undefined);
  vmm.onExit(onExit);
  const handler = createApiHandler({ vmm, logger, metrics, onFatal: onExit });
  return { logger, metrics, vmm, handler };
}

/** Starts an in-process double listening on `apiSock` (tests, embedding). */
export async function startDouble(
  apiSock: string,
  opts: DoubleOptions = {},
): Promise<DoubleInstance & { server: ApiHttpServer }> {
  const app = createDouble({ apiSock, ...opts });
  const server = new ApiHttpServer(app.handler, opts.payloadLimit ?? DEFAULT_PAYLOAD_LIMIT);
  await server.listen(apiSock);
  return { ...app, server };
}
