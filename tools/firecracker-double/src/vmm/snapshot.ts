/** Snapshot create/load (behaviour.md#endpoint-snapshot, behaviour.md#snapshot-files). */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Body } from '../api/actions.js';
import type { MemoryBackend } from '../backends/types.js';
import { BackendError } from '../backends/types.js';
import { ioErrorText } from '../errno.js';
import { decodeSnapshot, encodeSnapshot, SnapshotFormatError } from '../snapshot-file.js';
import { guestSpec } from './boot.js';
import type { VmmContext } from './context.js';
import { fail, VmmError } from './errors.js';
import { openCheck } from './files.js';
import { tapOpenError } from './tap.js';
import type { VmResources } from './types.js';

const CREATE = 'Create snapshot error: ';
const LOAD = 'Load snapshot error: ';
const RESTORE = `${LOAD}Failed to restore from snapshot: `;

interface SnapshotPayload {
  resources: VmResources;
  cmdline: string;
  backend: string;
  backendState: unknown;
  hotplug: { plugged: number; requested: number };
}

export async function createSnapshot(ctx: VmmContext, body: Body): Promise<void> {
  if (ctx.state === 'Running') {
    fail(`${CREATE}Cannot save the microVM state: Operation not allowed: save/restore unavailable while running`);
  }
  const vhost = ctx.resources.drives.filter((d) => d.socket !== null);
  if (vhost.length > 0) {
    fail(
      `${CREATE}Devices without snapshot support are present: ${vhost.map((d) => `vhost-user-block(id: ${d.drive_id})`).join(', ')}`,
    );
  }
  const statePath = body['snapshot_path'] as string;
  const memPath = body['mem_file_path'] as string;
  const type = (body['snapshot_type'] as 'Full' | 'Diff' | undefined) ?? 'Full';
  let backendState: unknown;
  try {
    // Upstream writes the state file first, then memory; the backend state is only known after
    // the memory dump here, so the state file is rewritten once both exist.
    writeFileSync(statePath, Buffer.alloc(0));
    backendState = await ctx.backend.snapshotCreate({
      memFilePath: memPath,
      snapshotType: type,
      memSizeMib: ctx.resources.machine.mem_size_mib,
      trackDirtyPages: ctx.resources.machine.track_dirty_pages,
    });
  } catch (err) {
    fail(`${CREATE}Cannot save the microVM state: ${err instanceof BackendError ? err.message : ioErrorText(err)}`);
  }
  const payload: SnapshotPayload = {
    resources: ctx.resources,
    cmdline: ctx.effectiveCmdline ?? '',
    backend: ctx.backend.name,
    backendState,
    hotplug: { plugged: ctx.hotplugPluggedMib, requested: ctx.hotplugRequestedMib },
  };
  try {
    writeFileSync(statePath, encodeSnapshot(payload));
  } catch (err) {
    fail(`${CREATE}Cannot save the microVM state: ${ioErrorText(err)}`);
  }
}

/** A restore failure: answered with 400, then the process exits 1 (behaviour.md#fatal-errors). */
function fatal(message: string): never {
  throw new VmmError(message, 400, true);
}

function readPayload(path: string): SnapshotPayload {
  let file: Buffer;
  try {
    file = readFileSync(path);
  } catch (err) {
    return fatal(`${RESTORE}Failed to get snapshot state from file: Failed to open snapshot file: ${ioErrorText(err)}`);
  }
  try {
    return decodeSnapshot(file) as SnapshotPayload;
  } catch (err) {
    if (err instanceof SnapshotFormatError) {
      return fatal(`${RESTORE}Failed to get snapshot state from file: Failed to load snapshot state from file: ${err.message}`);
    }
    throw err;
  }
}

/** Re-acquires host resources exactly as a restore does: files, TAPs, the vsock UDS. */
async function reacquire(ctx: VmmContext, r: VmResources): Promise<void> {
  const build = `${RESTORE}Failed to build microVM from snapshot: `;
  for (const d of r.drives) {
    if (d.path_on_host === null) continue;
    try {
      openCheck(d.path_on_host, !d.is_read_only);
    } catch (err) {
      fatal(`${build}Block device error: Error manipulating the backing file: ${ioErrorText(err)} ${d.path_on_host}`);
    }
  }
  for (const p of r.pmem) {
    try {
      openCheck(p.path_on_host, !p.read_only);
    } catch (err) {
      fatal(`${build}Pmem device error: ${ioErrorText(err)}`);
    }
  }
  r.net.forEach((n, i) => {
    const held = r.net.some((o, j) => j !== i && o.host_dev_name === n.host_dev_name);
    const error = tapOpenError(n.host_dev_name, held, ctx.options.isTapCheckSkipped);
    if (error !== undefined) fatal(`${build}Net device error: ${error}`);
  });
  if (r.vsock) {
    try {
      await ctx.vsock.bind(r.vsock.uds_path);
    } catch (err) {
      fatal(`${build}Vsock device error: Error binding to the host-side Unix socket: ${ioErrorText(err)}`);
    }
  }
}

export async function loadSnapshot(ctx: VmmContext, body: Body): Promise<void> {
  if (ctx.bootPath) {
    fail(`${LOAD}Loading a microVM snapshot not allowed after configuring boot-specific resources.`);
  }
  const payload = readPayload(body['snapshot_path'] as string);
  const r = payload.resources;
  for (const o of (body['network_overrides'] as Body[] | undefined) ?? []) {
    const iface = r.net.find((n) => n.iface_id === o['iface_id']);
    if (!iface) fatal(`${RESTORE}Invalid network override: no network interface with id ${String(o['iface_id'])}`);
    iface.host_dev_name = o['host_dev_name'] as string;
  }
  const vsockOverride = body['vsock_override'] as Body | undefined;
  if (vsockOverride && r.vsock) r.vsock.uds_path = vsockOverride['uds_path'] as string;
  r.machine.track_dirty_pages =
    (body['track_dirty_pages'] as boolean | undefined) ?? (body['enable_diff_snapshots'] as boolean | undefined) ?? false;
  // Entropy is not reported after a restore (behaviour.md#endpoint-vm-config).
  r.entropy = null;
  if (r.bootSource) r.bootSource.boot_args = payload.cmdline;
  if (r.mmdsConfig) r.mmdsConfig = { ...r.mmdsConfig };

  await reacquire(ctx, r);
  const backend = body['mem_backend'] as Body | undefined;
  const memory: MemoryBackend = backend
    ? { kind: backend['backend_type'] as 'File' | 'Uffd', path: backend['backend_path'] as string }
    : { kind: 'File', path: body['mem_file_path'] as string };
  ctx.resources = r;
  try {
    await ctx.backend.restore({ ...guestSpec(ctx, payload.cmdline), memory, backendState: payload.backendState });
  } catch (err) {
    if (err instanceof BackendError) fatal(`${RESTORE}${err.message}`);
    throw err;
  }
  ctx.effectiveCmdline = payload.cmdline;
  ctx.hotplugPluggedMib = payload.hotplug.plugged;
  ctx.hotplugRequestedMib = payload.hotplug.requested;
  ctx.state = 'Paused';
  if (body['resume_vm'] === true) {
    try {
      await ctx.backend.resume();
    } catch (err) {
      fatal(`${LOAD}Failed to resume microVM: ${err instanceof Error ? err.message : String(err)}`);
    }
    ctx.state = 'Running';
  }
  ctx.markStarted();
}
