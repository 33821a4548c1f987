import { close as closeFd, constants, fstat, open as openFd, watch, type FSWatcher, type Stats } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { Socket } from 'node:net';
import { promisify } from 'node:util';
import type { AgentLog } from '../../application/ports/agent-log.js';
import type { ConsoleFollow, ConsoleInput, ConsoleLogFiles, SerialConsoles } from '../../application/ports/serial-consoles.js';

/** Bytes read from the log per read call. */
const readChunkBytes = 64 * 1024;
/** Input queued in front of a full pipe before further input is dropped. */
const maxQueuedInputBytes = 64 * 1024;
/**
 * A change notification (inotify) wakes a follower at once; this slower check is the safety net for
 * a notification that cannot be set up (the inotify watch limit) or is lost to a queue overflow.
 */
const recheckIntervalMs = 1_000;

/** Follows console logs through inotify and writes serial input through the event loop (a pipe handle). */
export class NodeSerialConsoles implements SerialConsoles {
  constructor(private readonly log: AgentLog) {}

  async follow(files: ConsoleLogFiles, backlogBytes: number, onData: (bytes: Uint8Array) => void): Promise<ConsoleFollow> {
    const follower = new LogFollower(files, onData, this.log);
    await follower.start(backlogBytes);
    return follower;
  }

  async openInput(fifoPath: string): Promise<ConsoleInput | undefined> {
    // A bare descriptor, not a FileHandle: the socket below owns it and closes it, and a FileHandle
    // left to the garbage collector would close it again (EBADF, which ends the process).
    let fd: number;
    try {
      // Non-blocking: with no reader (no VMM holds it) the open fails with ENXIO instead of waiting.
      fd = await promisify(openFd)(fifoPath, constants.O_WRONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (code === 'ENXIO' || code === 'ENOENT') return undefined;
      throw error;
    }
    let stats: Stats;
    try {
      stats = await promisify(fstat)(fd);
    } catch (error) {
      await promisify(closeFd)(fd);
      throw error;
    }
    if (!stats.isFIFO()) {
      await promisify(closeFd)(fd);
      this.log.warn({ path: fifoPath }, 'console input path is not a fifo');
      return undefined;
    }
    const socket = new Socket({ fd, readable: false, writable: true });
    let isBroken = false;
    // EPIPE once the VMM is gone: the bytes have nowhere to go.
    socket.on('error', () => {
      isBroken = true;
    });
    return {
      write: (bytes) => {
        if (isBroken || socket.writableLength > maxQueuedInputBytes) return false;
        socket.write(bytes);
        return true;
      },
      close: () => socket.destroy(),
    };
  }
}

class LogFollower implements ConsoleFollow {
  private handle: FileHandle | undefined;
  private offset = 0;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private isReading = false;
  private isReadPending = false;
  private isClosed = false;

  constructor(
    private readonly files: ConsoleLogFiles,
    private readonly onData: (bytes: Uint8Array) => void,
    private readonly log: AgentLog,
  ) {}

  async start(backlogBytes: number): Promise<void> {
    // The log exists from the VMM's spawn (its stdout); one that does not is created empty.
    this.handle = await open(this.files.logPath, constants.O_RDONLY | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
    const size = (await this.handle.stat()).size;
    const current = await readRange(this.handle, Math.max(0, size - backlogBytes), size);
    const previous =
      current.length < backlogBytes ? await readTailOf(this.files.rotatedPath, backlogBytes - current.length) : empty;
    this.offset = size;
    if (previous.length + current.length > 0) this.onData(Buffer.concat([previous, current]));
    try {
      this.watcher = watch(this.files.logPath, { persistent: false }, () => this.wake());
      this.watcher.on('error', () => this.watcher?.close());
    } catch (error) {
      this.log.warn({ path: this.files.logPath, err: error }, 'console log cannot be watched; checking it every second');
    }
    this.timer = setInterval(() => this.wake(), recheckIntervalMs);
    this.timer.unref();
    // Anything appended between the size read and the watch.
    this.wake();
  }

  close(): void {
    this.isClosed = true;
    this.watcher?.close();
    if (this.timer !== undefined) clearInterval(this.timer);
    this.handle?.close().catch(() => undefined);
    this.handle = undefined;
  }

  private wake(): void {
    if (this.isClosed) return;
    if (this.isReading) {
      this.isReadPending = true;
      return;
    }
    this.isReading = true;
    this.readNew()
      .catch((error: unknown) => this.log.warn({ path: this.files.logPath, err: error }, 'console log read failed'))
      .finally(() => {
        this.isReading = false;
        if (this.isReadPending) {
          this.isReadPending = false;
          this.wake();
        }
      });
  }

  private async readNew(): Promise<void> {
    const handle = this.handle;
    if (handle === undefined) return;
    const size = (await handle.stat()).size;
    if (size < this.offset) {
      // Rotated (copied, then truncated): the copy holds what came after our last read.
      const missed = await readFrom(this.files.rotatedPath, this.offset);
      if (missed.length > 0 && !this.isClosed) this.onData(missed);
      this.offset = 0;
    }
    while (!this.isClosed && this.offset < size) {
      const end = Math.min(size, this.offset + readChunkBytes);
      const bytes = await readRange(handle, this.offset, end);
      if (bytes.length === 0) break;
      this.offset += bytes.length;
      if (!this.isClosed) this.onData(bytes);
    }
  }
}

const empty = Buffer.alloc(0);

async function readRange(handle: FileHandle, start: number, end: number): Promise<Buffer> {
  if (end <= start) return empty;
  const buffer = Buffer.alloc(end - start);
  const { bytesRead } = await handle.read(buffer, 0, buffer.length, start);
  return buffer.subarray(0, bytesRead);
}

async function readTailOf(path: string, maxBytes: number): Promise<Buffer> {
  return withFile(path, async (handle) => {
    const size = (await handle.stat()).size;
    return readRange(handle, Math.max(0, size - maxBytes), size);
  });
}

async function readFrom(path: string, start: number): Promise<Buffer> {
  return withFile(path, async (handle) => {
    const size = (await handle.stat()).size;
    return readRange(handle, start, Math.min(size, start + 1024 * 1024));
  });
}

async function withFile(path: string, read: (handle: FileHandle) => Promise<Buffer>): Promise<Buffer> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ENOENT') return empty;
    throw error;
  }
  try {
    return await read(handle);
  } finally {
    await handle.close();
  }
}
