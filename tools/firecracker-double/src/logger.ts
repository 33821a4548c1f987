import type { Sink } from './sink.js';
import { stdoutSink } from './sink.js';

export type Level = 'Off' | 'Error' | 'Warn' | 'Info' | 'Debug' | 'Trace';
const RANK: Record<Level, number> = { Off: 0, Error: 1, Warn: 2, Info: 3, Debug: 4, Trace: 5 };
const LABEL: Record<Level, string> = {
  Off: 'OFF',
  Error: 'ERROR',
  Warn: 'WARN',
  Info: 'INFO',
  Debug: 'DEBUG',
  Trace: 'TRACE',
};

/** Parses a level name case-insensitively; `Warning` and `Warn` are both accepted (behaviour.md#endpoint-logger). */
export function parseLevel(text: string): Level | undefined {
  switch (text.toLowerCase()) {
    case 'off':
      return 'Off';
    case 'error':
      return 'Error';
    case 'warn':
    case 'warning':
      return 'Warn';
    case 'info':
      return 'Info';
    case 'debug':
      return 'Debug';
    case 'trace':
      return 'Trace';
    default:
      return undefined;
  }
}

/** Where a message comes from: the thread name and a fake Rust module/file origin. */
export interface Origin {
  thread: string;
  module: string;
  file: string;
  line: number;
}

export const MAIN: Origin = { thread: 'main', module: 'firecracker', file: 'src/firecracker/src/main.rs', line: 1 };
export const API: Origin = {
  thread: 'fc_api',
  module: 'firecracker::api_server',
  file: 'src/firecracker/src/api_server/mod.rs',
  line: 1,
};
export const VMM: Origin = { thread: 'main', module: 'vmm', file: 'src/vmm/src/lib.rs', line: 1 };

export interface LoggerOptions {
  level?: Level;
  showLevel?: boolean;
  showOrigin?: boolean;
  module?: string | undefined;
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

const BASE_NS = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
const BASE_HR = process.hrtime.bigint();

/** `YYYY-MM-DDTHH:MM:SS.nnnnnnnnn` in local time (behaviour.md#logging), monotonic within the process. */
export function timestamp(nowNs = BASE_NS + (process.hrtime.bigint() - BASE_HR)): string {
  const now = new Date(Number(nowNs / 1_000_000n));
  const nanos = Number(nowNs % 1_000_000_000n);
  return (
    `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}` +
    `T${pad(now.getHours())}:${pad(now.getMinutes())}:${pad(now.getSeconds())}.${pad(nanos, 9)}`
  );
}

/** Upstream-format logger: `<ts> [<id>:<thread>[:<LEVEL>][:<file>:<line>]] <message>`. */
export class Logger {
  private sink: Sink = stdoutSink;
  level: Level = 'Info';
  showLevel = false;
  showOrigin = false;
  module: string | undefined;
  missedLogCount = 0;

  constructor(public instanceId: string) {}

  configure(opts: LoggerOptions, sink?: Sink): void {
    if (sink) {
      if (this.sink !== stdoutSink) this.sink.close();
      this.sink = sink;
    }
    if (opts.level !== undefined) this.level = opts.level;
    if (opts.showLevel !== undefined) this.showLevel = opts.showLevel;
    if (opts.showOrigin !== undefined) this.showOrigin = opts.showOrigin;
    if (opts.module !== undefined) this.module = opts.module;
  }

  enabled(level: Level): boolean {
    return RANK[level] <= RANK[this.level] && level !== 'Off';
  }

  log(level: Level, origin: Origin, message: string): void {
    if (!this.enabled(level)) return;
    if (this.module !== undefined && !origin.module.startsWith(this.module)) return;
    let tag = `${this.instanceId}:${origin.thread}`;
    if (this.showLevel) tag += `:${LABEL[level]}`;
    if (this.showOrigin) tag += `:${origin.file}:${origin.line}`;
    if (!this.sink.write(`${timestamp()} [${tag}] ${message}\n`)) this.missedLogCount++;
  }

  error(origin: Origin, message: string): void {
    this.log('Error', origin, message);
  }
  warn(origin: Origin, message: string): void {
    this.log('Warn', origin, message);
  }
  info(origin: Origin, message: string): void {
    this.log('Info', origin, message);
  }
  debug(origin: Origin, message: string): void {
    this.log('Debug', origin, message);
  }
}
