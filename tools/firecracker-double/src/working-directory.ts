/**
 * Paths relative to the process's working directory, resolved as the kernel resolves them now.
 *
 * Node caches `process.cwd()` from its first call (until `process.chdir`), so `path.resolve` of a
 * relative path names the directory where the working directory was then. Firecracker opens the
 * paths it is given with the working directory as it is when it opens them: when that directory
 * is renamed while the VMM runs (a warm VMM's directory becoming its VM's), a relative disk path
 * given afterwards opens the file in the renamed directory. The kernel's own answer is read from
 * `/proc/self/cwd`.
 */
import { readlinkSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';

/** The working directory's path now (Node's cached one where /proc cannot be read). */
export function workingDirectoryNow(): string {
  try {
    return readlinkSync('/proc/self/cwd');
  } catch {
    return process.cwd();
  }
}

/** `path` made absolute against the working directory as it is now. */
export function resolveNow(path: string): string {
  return isAbsolute(path) ? resolve(path) : resolve(workingDirectoryNow(), path);
}
