import type { Body } from '../../api/actions.js';
import { ioErrorText } from '../../errno.js';
import { fail } from '../errors.js';
import { openCheck } from '../files.js';
import { toRateLimiter } from '../rate-limiter.js';
import type { Drive, Pmem } from '../types.js';

const PREFIX = 'Pmem config error: ';

/** Create-or-replace a pmem device with the root-device rules of behaviour.md#endpoint-pmem. */
export function insertPmem(list: readonly Pmem[], drives: readonly Drive[], body: Body): Pmem[] {
  const dev: Pmem = {
    id: body['id'] as string,
    path_on_host: body['path_on_host'] as string,
    root_device: (body['root_device'] as boolean | undefined) ?? false,
    read_only: (body['read_only'] as boolean | undefined) ?? false,
    rate_limiter: toRateLimiter(body['rate_limiter']),
  };
  if (dev.root_device) {
    if (drives.some((d) => d.is_root_device)) {
      fail(`${PREFIX}Attempt to add pmem as a root device while the root device defined as a block device`);
    }
    if (list.some((p) => p.root_device && p.id !== dev.id)) fail(`${PREFIX}A root pmem device already exist`);
  }
  try {
    openCheck(dev.path_on_host, !dev.read_only);
  } catch (err) {
    fail(`${PREFIX}Error accessing backing file: ${ioErrorText(err)}`);
  }
  const next = [...list];
  const idx = next.findIndex((p) => p.id === dev.id);
  if (idx >= 0) next[idx] = dev;
  else if (dev.root_device) next.unshift(dev);
  else next.push(dev);
  return next;
}
