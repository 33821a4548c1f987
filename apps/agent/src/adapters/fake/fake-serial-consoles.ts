import type { ConsoleFollow, ConsoleInput, ConsoleLogFiles, SerialConsoles } from '../../application/ports/serial-consoles.js';

interface FakeLog {
  current: Buffer;
  rotated: Buffer;
  readonly followers: Set<(bytes: Uint8Array) => void>;
}

/**
 * Serial consoles in memory: `print` is what a guest writes, `rotate` a copy-truncate rotation,
 * `readInput` what reached a VMM's stdin. Only FIFOs marked `listen` have a reader.
 */
export class FakeSerialConsoles implements SerialConsoles {
  private readonly logs = new Map<string, FakeLog>();
  private readonly inputs = new Map<string, { bytes: Buffer; capacityBytes: number }>();
  private openInputCount = 0;

  async follow(files: ConsoleLogFiles, backlogBytes: number, onData: (bytes: Uint8Array) => void): Promise<ConsoleFollow> {
    const log = this.logOf(files.logPath);
    const current = log.current.subarray(Math.max(0, log.current.length - backlogBytes));
    const previous =
      current.length < backlogBytes
        ? log.rotated.subarray(Math.max(0, log.rotated.length - (backlogBytes - current.length)))
        : Buffer.alloc(0);
    if (previous.length + current.length > 0) onData(Buffer.concat([previous, current]));
    log.followers.add(onData);
    return { close: () => log.followers.delete(onData) };
  }

  async openInput(fifoPath: string): Promise<ConsoleInput | undefined> {
    const input = this.inputs.get(fifoPath);
    if (input === undefined) return undefined;
    this.openInputCount += 1;
    let isClosed = false;
    return {
      write: (bytes) => {
        if (isClosed || input.bytes.length + bytes.length > input.capacityBytes) return false;
        input.bytes = Buffer.concat([input.bytes, bytes]);
        return true;
      },
      close: () => {
        if (!isClosed) this.openInputCount -= 1;
        isClosed = true;
      },
    };
  }

  /** A VMM reading `fifoPath` as its stdin; it takes at most `capacityBytes` before input is dropped. */
  listen(fifoPath: string, capacityBytes = 64 * 1024): void {
    this.inputs.set(fifoPath, { bytes: Buffer.alloc(0), capacityBytes });
  }

  /** The VMM reading `fifoPath` is gone. */
  stopListening(fifoPath: string): void {
    this.inputs.delete(fifoPath);
  }

  readInput(fifoPath: string): string {
    return this.inputs.get(fifoPath)?.bytes.toString('latin1') ?? '';
  }

  /** Input writers not closed yet. */
  get openInputs(): number {
    return this.openInputCount;
  }

  print(logPath: string, text: string | Uint8Array): void {
    const log = this.logOf(logPath);
    const bytes = typeof text === 'string' ? Buffer.from(text, 'latin1') : Buffer.from(text);
    log.current = Buffer.concat([log.current, bytes]);
    for (const follower of log.followers) follower(bytes);
  }

  rotate(logPath: string): void {
    const log = this.logOf(logPath);
    log.rotated = log.current;
    log.current = Buffer.alloc(0);
  }

  followerCount(logPath: string): number {
    return this.logs.get(logPath)?.followers.size ?? 0;
  }

  private logOf(path: string): FakeLog {
    let log = this.logs.get(path);
    if (log === undefined) {
      log = { current: Buffer.alloc(0), rotated: Buffer.alloc(0), followers: new Set() };
      this.logs.set(path, log);
    }
    return log;
  }
}
