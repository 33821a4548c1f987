/** Pre-boot configuration handlers (behaviour.md#state-machine, behaviour.md#endpoints). */
import type { Body } from '../api/actions.js';
import { ioErrorText } from '../errno.js';
import { parseLevel } from '../logger.js';
import { openSink } from '../sink.js';
import type { VmmContext } from './context.js';
import { fail } from './errors.js';
import { toRateLimiter, toTokenBucket } from './rate-limiter.js';
import { validateBootSource } from './validation/boot-source.js';
import { buildBalloon, buildMemoryHotplug, buildMmdsConfig } from './validation/devices.js';
import { buildDrive, insertDrive } from './validation/drives.js';
import { applyMachineConfig } from './validation/machine-config.js';
import { insertNet } from './validation/net.js';
import { insertPmem } from './validation/pmem.js';

export function putBootSource(ctx: VmmContext, body: Body): void {
  ctx.resources.bootSource = validateBootSource(body);
}

export function putDrive(ctx: VmmContext, body: Body): void {
  const drive = buildDrive(body);
  ctx.resources.drives = insertDrive(ctx.resources.drives, ctx.resources.pmem, drive);
}

export function putNet(ctx: VmmContext, body: Body): void {
  ctx.resources.net = insertNet(ctx.resources.net, body, ctx.options.isTapCheckSkipped);
}

export function putPmem(ctx: VmmContext, body: Body): void {
  ctx.resources.pmem = insertPmem(ctx.resources.pmem, ctx.resources.drives, body);
}

export function putMachineConfig(ctx: VmmContext, body: Body, isPut: boolean): void {
  ctx.resources.machine = applyMachineConfig(ctx.resources.machine, body, isPut, ctx.resources.balloon?.amount_mib);
}

export async function putVsock(ctx: VmmContext, body: Body): Promise<void> {
  const path = body['uds_path'] as string;
  ctx.vsock.release(true);
  try {
    await ctx.vsock.bind(path);
  } catch (err) {
    ctx.resources.vsock = null;
    fail(
      `Vsock config error: Cannot create backend for vsock device: Error binding to the host-side Unix socket: ${ioErrorText(err)}`,
    );
  }
  ctx.resources.vsock = { guest_cid: body['guest_cid'] as number, uds_path: path };
}

export function putEntropy(ctx: VmmContext, body: Body): void {
  ctx.resources.entropy = { rate_limiter: toRateLimiter(body['rate_limiter']) };
}

export function putBalloon(ctx: VmmContext, body: Body): void {
  ctx.resources.balloon = buildBalloon(body, ctx.resources.machine.mem_size_mib);
}

export function putMmdsConfig(ctx: VmmContext, body: Body): void {
  ctx.resources.mmdsConfig = buildMmdsConfig(body, ctx.resources.net);
}

export function putMemoryHotplug(ctx: VmmContext, body: Body): void {
  ctx.resources.memoryHotplug = buildMemoryHotplug(body);
}

export function putCpuConfig(ctx: VmmContext, body: Body): void {
  ctx.resources.cpuConfig = body;
}

export function putSerial(ctx: VmmContext, body: Body): void {
  ctx.resources.serial = {
    serial_out_path: (body['serial_out_path'] as string | undefined) ?? null,
    rate_limiter: toTokenBucket(body['rate_limiter']),
  };
}

/** PUT /logger: repeatable pre-boot (behaviour.md#endpoint-logger, behaviour.md#swagger-vs-code). */
export function putLogger(ctx: VmmContext, body: Body): void {
  const path = body['log_path'] as string | undefined;
  let sink;
  if (path !== undefined) {
    try {
      sink = openSink(path);
    } catch (err) {
      fail(`Logger error: Failed to open target file: ${ioErrorText(err)}`);
    }
  }
  const level = body['level'] !== undefined ? parseLevel(body['level'] as string) : undefined;
  ctx.logger.configure(
    {
      ...(level !== undefined ? { level } : {}),
      ...(body['show_level'] !== undefined ? { showLevel: body['show_level'] as boolean } : {}),
      ...(body['show_log_origin'] !== undefined ? { showOrigin: body['show_log_origin'] as boolean } : {}),
      ...(body['module'] !== undefined ? { module: body['module'] as string } : {}),
    },
    sink,
  );
}

/** PUT /metrics: only once per process, including after `--metrics-path` (behaviour.md#endpoint-metrics). */
export function putMetrics(ctx: VmmContext, body: Body): void {
  const p = 'Metrics error: Cannot initialize the metrics system due to bad user input: ';
  if (ctx.metrics.configured) fail(`${p}Reinitialization of metrics not allowed.`);
  try {
    ctx.metrics.init(openSink(body['metrics_path'] as string));
  } catch (err) {
    fail(`${p}${ioErrorText(err)}`);
  }
}
