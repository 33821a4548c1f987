import { chmod, lstat, mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';

/**
 * Makes `dir` (created when missing) and everything under it the owner's alone: directories 0700,
 * files 0600. The embedded database holds every VM, host and event: no other user may read it,
 * whatever the umask was when an older version created it. Symbolic links are left alone.
 */
export async function restrictToOwner(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await tighten(dir);
}

async function tighten(entry: string): Promise<void> {
  const stats = await lstat(entry);
  if (stats.isSymbolicLink()) return;
  if (stats.isDirectory()) {
    if ((stats.mode & 0o777) !== 0o700) await chmod(entry, 0o700);
    for (const name of await readdir(entry)) await tighten(path.join(entry, name));
  } else if ((stats.mode & 0o077) !== 0) {
    await chmod(entry, stats.mode & 0o700);
  }
}
