/** Runtime (post-boot) handlers: updates, hotplug and balloon control (behaviour.md#state-machine, behaviour.md#endpoints). */
import type { Body } from '../api/actions.js';
import type { VmmContext } from './context.js';
import { fail } from './errors.js';
import { mergeRateLimiter } from './rate-limiter.js';
import { buildDrive, patchDrive } from './validation/drives.js';
import { insertNet } from './validation/net.js';
import { insertPmem } from './validation/pmem.js';

const PAGES_PER_MIB = 256;
const U32_MAX = 0xffffffff;

export function patchDriveRuntime(ctx: VmmContext, body: Body): void {
  const id = body['drive_id'] as string;
  const drives = ctx.resources.drives;
  const idx = drives.findIndex((d) => d.drive_id === id);
  const patched = patchDrive(drives[idx], body);
  ctx.resources.drives = drives.map((d, i) => (i === idx ? patched : d));
}

export function patchNetRuntime(ctx: VmmContext, body: Body): void {
  const id = body['iface_id'] as string;
  const iface = ctx.resources.net.find((n) => n.iface_id === id);
  if (!iface) fail(`Network config error: Unable to update the net device: Device not found: ${id}`);
  iface.rx_rate_limiter = mergeRateLimiter(iface.rx_rate_limiter, body['rx_rate_limiter']);
  iface.tx_rate_limiter = mergeRateLimiter(iface.tx_rate_limiter, body['tx_rate_limiter']);
}

/** Without `rate_limiter` this is a no-op even for unknown ids (behaviour.md#endpoint-pmem). */
export function patchPmemRuntime(ctx: VmmContext, body: Body): void {
  if (body['rate_limiter'] === undefined) return;
  const id = body['id'] as string;
  const dev = ctx.resources.pmem.find((p) => p.id === id);
  if (!dev) fail(`Pmem config error: Device with id ${id} not found`);
  dev.rate_limiter = mergeRateLimiter(dev.rate_limiter, body['rate_limiter']);
}

type HotKind = 'drive' | 'net' | 'pmem';

function ids(ctx: VmmContext, kind: HotKind): string[] {
  const r = ctx.resources;
  if (kind === 'drive') return r.drives.map((d) => d.drive_id);
  if (kind === 'net') return r.net.map((n) => n.iface_id);
  return r.pmem.map((p) => p.id);
}

/** Post-boot PUT of a device is a PCI hotplug (behaviour.md#state-machine). */
export function hotplug(ctx: VmmContext, kind: HotKind, body: Body): void {
  if (!ctx.options.enablePci) fail('PCI is not enabled');
  const id = (kind === 'drive' ? body['drive_id'] : kind === 'net' ? body['iface_id'] : body['id']) as string;
  if (ids(ctx, kind).includes(id)) fail('Device ID in use');
  const r = ctx.resources;
  if (kind === 'drive') r.drives = [...r.drives, { ...buildDrive(body), is_root_device: false }];
  else if (kind === 'net') r.net = insertNet(r.net, body, ctx.options.isTapCheckSkipped);
  else r.pmem = insertPmem(r.pmem, r.drives, { ...body, root_device: false });
}

export function unplug(ctx: VmmContext, kind: HotKind, id: string): void {
  if (!ctx.options.enablePci) fail('PCI is not enabled');
  const r = ctx.resources;
  if (!ids(ctx, kind).includes(id)) fail('Device not found');
  if (kind === 'drive') {
    if (r.drives.find((d) => d.drive_id === id)?.is_root_device) fail('Cannot unplug root device');
    r.drives = r.drives.filter((d) => d.drive_id !== id);
  } else if (kind === 'net') {
    r.net = r.net.filter((n) => n.iface_id !== id);
  } else {
    if (r.pmem.find((p) => p.id === id)?.root_device) fail('Cannot unplug root device');
    r.pmem = r.pmem.filter((p) => p.id !== id);
  }
}

function balloonOrFail(ctx: VmmContext, category: string) {
  const b = ctx.resources.balloon;
  if (!b) return fail(`${category}: No balloon device found.`);
  return b;
}

export function getBalloon(ctx: VmmContext): unknown {
  return balloonOrFail(ctx, 'Balloon config error');
}

export function patchBalloon(ctx: VmmContext, body: Body): void {
  const b = balloonOrFail(ctx, 'Balloon update error');
  const amount = body['amount_mib'] as number;
  const mem = ctx.resources.machine.mem_size_mib;
  if (amount * PAGES_PER_MIB > U32_MAX) fail('Balloon update error: Amount of pages requested is too large.');
  if (amount > mem) fail(`Balloon update error: Requested memory should be less than ${mem}MiB`);
  b.amount_mib = amount;
}

export function patchBalloonStats(ctx: VmmContext, body: Body): void {
  const b = balloonOrFail(ctx, 'Balloon update error');
  const next = body['stats_polling_interval_s'] as number;
  if ((next === 0) !== (b.stats_polling_interval_s === 0)) {
    fail('Balloon update error: Statistics cannot be enabled/disabled after activation.');
  }
  b.stats_polling_interval_s = next;
}

export function balloonStats(ctx: VmmContext): unknown {
  const b = balloonOrFail(ctx, 'Balloon config error');
  if (b.stats_polling_interval_s === 0) fail('Balloon config error: Received stats query when stats are disabled.');
  // The simulated guest always reaches the target immediately.
  const pages = b.amount_mib * PAGES_PER_MIB;
  return { target_pages: pages, actual_pages: pages, target_mib: b.amount_mib, actual_mib: b.amount_mib };
}

function hintingBalloon(ctx: VmmContext) {
  const b = balloonOrFail(ctx, 'Balloon update error');
  if (!b.free_page_hinting) fail('Balloon update error: Attempting to use hinting when not enabled');
  return b;
}

export function startHinting(ctx: VmmContext): void {
  hintingBalloon(ctx);
  ctx.hintingHostCmd = Math.max(2, ctx.hintingHostCmd + 1);
}

export function stopHinting(ctx: VmmContext): void {
  hintingBalloon(ctx);
  ctx.hintingHostCmd = 1;
}

export function hintingStatus(ctx: VmmContext): unknown {
  hintingBalloon(ctx);
  return { host_cmd: ctx.hintingHostCmd, guest_cmd: null };
}

function hotplugOrFail(ctx: VmmContext) {
  const h = ctx.resources.memoryHotplug;
  if (!h) return fail('Memory hotplug update error: Memory hotplug device not found');
  return h;
}

export function memoryHotplugStatus(ctx: VmmContext): unknown {
  const h = hotplugOrFail(ctx);
  return { ...h, plugged_size_mib: ctx.hotplugPluggedMib, requested_size_mib: ctx.hotplugRequestedMib };
}

export function patchMemoryHotplug(ctx: VmmContext, body: Body): void {
  const h = hotplugOrFail(ctx);
  const requested = body['requested_size_mib'] as number;
  const p = 'Memory hotplug update error: ';
  if (requested > h.total_size_mib) fail(`${p}Requested size must not be greater than total size (${h.total_size_mib} MiB)`);
  if (requested % h.block_size_mib !== 0) fail(`${p}Requested size must be a multiple of block size (${h.block_size_mib} MiB)`);
  ctx.hotplugRequestedMib = requested;
  ctx.hotplugPluggedMib = requested;
}
