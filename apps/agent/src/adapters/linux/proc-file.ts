import { closeSync, openSync, readSync } from 'node:fs';

/** Reused by every read: the reads are synchronous, so no two can interleave. */
let buffer = Buffer.allocUnsafe(4096);

/**
 * Reads a file under /proc. Such files report a size of 0, so `fs.readFile` reads each one through
 * a fresh 64 KiB buffer: reading /proc/<pid>/stat for 500 VMs that way allocated about 32 MiB per
 * inventory and grew the Agent's resident memory. The kernel serves these files from memory and
 * never blocks, so they are read synchronously into one buffer that only grows for a bigger file.
 * Throws like `fs.readFileSync` (ENOENT when the process is gone).
 */
export function readProcFile(path: string): string {
  const fd = openSync(path, 'r');
  try {
    let length = 0;
    for (;;) {
      if (length === buffer.length) {
        const bigger = Buffer.allocUnsafe(buffer.length * 2);
        buffer.copy(bigger, 0, 0, length);
        buffer = bigger;
      }
      const bytesRead = readSync(fd, buffer, length, buffer.length - length, null);
      if (bytesRead === 0) return buffer.toString('utf8', 0, length);
      length += bytesRead;
    }
  } finally {
    closeSync(fd);
  }
}
