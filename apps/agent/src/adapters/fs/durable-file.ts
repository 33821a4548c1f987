import { closeSync, constants, fdatasync, fsync, ftruncateSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { mkdir, open, rename } from 'node:fs/promises';
import path from 'node:path';

/**
 * Waits for `fd`'s data (and, unless `isDataOnly`, its metadata) to reach the disk: the one part
 * of a durable write that waits on the device, so the one left to libuv's thread pool.
 */
export function flushToDisk(fd: number, options: { readonly isDataOnly: boolean }): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (error: NodeJS.ErrnoException | null): void => (error === null ? resolve() : reject(error));
    if (options.isDataOnly) fdatasync(fd, done);
    else fsync(fd, done);
  });
}

/**
 * Flushes a directory's entries (a new file name, a rename) to disk. The directory is opened and
 * closed synchronously (metadata the kernel holds in memory, cheaper than a round trip through the
 * thread pool each); only the flush waits in the pool.
 */
export async function syncDirectory(directory: string): Promise<void> {
  const fd = openSync(directory, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await flushToDisk(fd, { isDataOnly: false });
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes `text` to a new file `file` (mode 0600, which must not exist) and flushes its content
 * (`fdatasync`). The open, the write of a few kilobytes and the close are synchronous; only the
 * flush goes through the thread pool.
 */
export async function writeNewFileFlushed(file: string, text: string): Promise<void> {
  const fd = openSync(file, 'wx', 0o600);
  try {
    writeFileSync(fd, text);
    await flushToDisk(fd, { isDataOnly: true });
  } finally {
    closeSync(fd);
  }
}

/**
 * Makes `text` the whole content of the open file `fd`, in place: written from its start, then cut
 * to its length. No new file: a reader that dies part way finds the start of `text` and the rest of
 * the old content.
 */
export function replaceContent(fd: number, text: string): void {
  const bytes = Buffer.from(text);
  for (let written = 0; written < bytes.length;) written += writeSync(fd, bytes, written, bytes.length - written, written);
  ftruncateSync(fd, bytes.length);
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
