import { closeSync, constants, openSync, writeSync } from 'node:fs';

/**
 * A log or metrics destination. Upstream opens it O_CREAT|O_RDWR|O_NONBLOCK, without
 * O_APPEND or O_TRUNC, so a FIFO without a reader works (behaviour.md#open-at-put, behaviour.md#metrics).
 */
export interface Sink {
  /** Writes the whole line; returns false when the write failed (e.g. full FIFO). */
  write(text: string): boolean;
  close(): void;
}

export function openSink(path: string): Sink {
  const fd = openSync(path, constants.O_CREAT | constants.O_RDWR | constants.O_NONBLOCK, 0o644);
  return fdSink(fd, true);
}

export function fdSink(fd: number, owned: boolean): Sink {
  return {
    write(text: string): boolean {
      try {
        const buf = Buffer.from(text);
        let off = 0;
        while (off < buf.length) off += writeSync(fd, buf, off);
        return true;
      } catch {
        return false;
      }
    },
    close(): void {
      if (owned) {
        try {
          closeSync(fd);
        } catch {
          /* already closed */
        }
      }
    },
  };
}

export const stdoutSink: Sink = fdSink(1, false);
