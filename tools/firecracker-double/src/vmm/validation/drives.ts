import type { Body } from '../../api/actions.js';
import { ioErrorText } from '../../errno.js';
import { fail } from '../errors.js';
import { openCheck } from '../files.js';
import { mergeRateLimiter, toRateLimiter } from '../rate-limiter.js';
import type { Drive, Pmem } from '../types.js';

const PREFIX = 'Drive config error: ';

export function backingFileError(path: string, err: unknown): string {
  return `Unable to create the virtio block device: Virtio backend error: Error manipulating the backing file: ${ioErrorText(err)} ${path}`;
}

/** Builds a drive from a PUT body, opening its backing file (behaviour.md#endpoint-drives). */
export function buildDrive(body: Body): Drive {
  const path = body['path_on_host'] as string | undefined;
  const socket = body['socket'] as string | undefined;
  if ((path === undefined) === (socket === undefined)) {
    fail(`${PREFIX}Unable to create the virtio block device: Invalid block config.`);
  }
  const common = {
    drive_id: body['drive_id'] as string,
    partuuid: (body['partuuid'] as string | undefined) ?? null,
    is_root_device: body['is_root_device'] as boolean,
    cache_type: (body['cache_type'] as string | undefined) ?? 'Unsafe',
  };
  if (socket !== undefined) {
    return { ...common, is_read_only: null, path_on_host: null, rate_limiter: null, io_engine: null, socket };
  }
  const readOnly = (body['is_read_only'] as boolean | undefined) ?? false;
  try {
    openCheck(path as string, !readOnly);
  } catch (err) {
    fail(PREFIX + backingFileError(path as string, err));
  }
  return {
    ...common,
    is_read_only: readOnly,
    path_on_host: path as string,
    rate_limiter: toRateLimiter(body['rate_limiter']),
    io_engine: (body['io_engine'] as string | undefined) ?? 'Sync',
    socket: null,
  };
}

/** Create-or-replace with root uniqueness; the root drive always sorts first (behaviour.md#endpoint-drives). */
export function insertDrive(drives: readonly Drive[], pmem: readonly Pmem[], drive: Drive): Drive[] {
  if (drive.is_root_device) {
    if (drives.some((d) => d.is_root_device && d.drive_id !== drive.drive_id)) {
      fail(`${PREFIX}A root block device already exists!`);
    }
    if (pmem.some((p) => p.root_device)) {
      fail(`${PREFIX}Attempt to add block as a root device while the root device defined as a pmem device`);
    }
  }
  const next = [...drives];
  const idx = next.findIndex((d) => d.drive_id === drive.drive_id);
  if (idx >= 0) next.splice(idx, 1);
  if (drive.is_root_device) next.unshift(drive);
  else if (idx >= 0) next.splice(idx, 0, drive);
  else next.push(drive);
  return next;
}

/** PATCH /drives/{id} post-boot (behaviour.md#endpoint-drives). */
export function patchDrive(drive: Drive | undefined, body: Body): Drive {
  const prefix = `${PREFIX}Unable to patch the block device: `;
  if (!drive) return fail(`${prefix}No such device`);
  const path = body['path_on_host'] as string | undefined;
  const limiter = body['rate_limiter'];
  const isVhost = drive.socket !== null;
  if ((path === undefined && limiter === undefined) !== isVhost) {
    fail(`${prefix}Running method expected different backend.`);
  }
  if (isVhost) return drive;
  if (path !== undefined) {
    try {
      openCheck(path, !drive.is_read_only);
    } catch (err) {
      fail(`${prefix}Virtio backend error: Error manipulating the backing file: ${ioErrorText(err)} ${path}`);
    }
  }
  return {
    ...drive,
    path_on_host: path ?? drive.path_on_host,
    rate_limiter: mergeRateLimiter(drive.rate_limiter, limiter),
  };
}
