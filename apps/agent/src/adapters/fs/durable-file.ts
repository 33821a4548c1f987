import { mkdir, open, rename } from 'node:fs/promises';
import path from 'node:path';

/** Flushes a directory's entries (a new file name, a rename) to disk. */
export async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Writes `value` as JSON to `file` (mode 0600, its directory created 0700) so that a reader never
 * sees half of it, even after a power loss: a temporary file written and flushed, renamed over the
 * old one, and the directory flushed.
 */
export async function writeJsonDurably(file: string, value: unknown): Promise<void> {
  const directory = path.dirname(file);
  await mkdir(directory, { recursive: true, mode: 0o700 });
  const temporary = `${file}.${process.pid}.tmp`;
  const handle = await open(temporary, 'w', 0o600);
  try {
    await handle.writeFile(`${JSON.stringify(value, null, 2)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temporary, file);
  await syncDirectory(directory);
}
