import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import path from 'node:path';
import { signalProcessTree, signalQuietly, waitForPidsToExit } from './process-tree.js';

export interface StartProcessOptions {
  /** Added to the current environment; a key set to `undefined` is removed from it. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly cwd?: string;
  /** Also append stdout and stderr to this file (its directory is created). */
  readonly logFile?: string;
  /** How long `stop()` waits after SIGTERM before SIGKILL. Default 5 000 ms. */
  readonly stopTimeoutMs?: number;
}

export interface ProcessExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Set when the process could not be started at all (e.g. ENOENT). */
  readonly error?: Error;
}

export interface StartedProcess {
  readonly child: ChildProcess;
  /** Resolves when the process has exited (or failed to start). */
  readonly exited: Promise<ProcessExit>;
  /** SIGTERM, then SIGKILL after `stopTimeoutMs`; also kills anything left in its process group or tree. Idempotent. */
  stop(): Promise<ProcessExit>;
  /** Everything written to stdout and stderr so far, interleaved as received. */
  output(): string;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of running) {
      if (child.pid !== undefined) signalProcessTree(child.pid, 'SIGKILL');
    }
  });
}

function environment(overrides: Readonly<Record<string, string | undefined>>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

/**
 * Starts `argv` (argument array, no shell) in its own process group for end-to-end tests, capturing
 * its output. Call `stop()` in `afterAll`/`finally`.
 */
export function startProcess(argv: readonly string[], options: StartProcessOptions = {}): StartedProcess {
  const [file, ...args] = argv;
  if (file === undefined) throw new Error('startProcess needs a command');
  const stopTimeoutMs = options.stopTimeoutMs ?? 5_000;
  let log: WriteStream | undefined;
  if (options.logFile !== undefined) {
    mkdirSync(path.dirname(options.logFile), { recursive: true });
    log = createWriteStream(options.logFile, { flags: 'a' });
  }
  const chunks: Buffer[] = [];
  const child = spawn(file, args, {
    cwd: options.cwd,
    env: environment(options.env ?? {}),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  running.add(child);
  installExitHook();
  const collect = (chunk: Buffer): void => {
    chunks.push(chunk);
    log?.write(chunk);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);

  const exited = new Promise<ProcessExit>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', (error) => {
      if (child.pid === undefined) resolve({ code: null, signal: null, error });
    });
  }).then((exit) => {
    running.delete(child);
    return exit;
  });

  let stopping: Promise<ProcessExit> | undefined;
  async function stopOnce(): Promise<ProcessExit> {
    const pid = child.pid;
    // Everything in the tree when we start stopping: once the process exits, its orphans are
    // reparented and no longer show up as its descendants, so they are tracked from here.
    const tree = new Set<number>();
    const signal = (name: NodeJS.Signals): void => {
      if (pid === undefined) return;
      for (const each of signalProcessTree(pid, name)) tree.add(each);
      for (const each of tree) signalQuietly(each, name);
    };
    if (pid !== undefined && child.exitCode === null && child.signalCode === null) {
      signal('SIGTERM');
      const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), stopTimeoutMs).unref());
      if ((await Promise.race([exited, timer])) === 'timeout') signal('SIGKILL');
    }
    const exit = await exited;
    if (pid !== undefined) {
      // Whatever the process left behind in its group or tree goes too.
      signal('SIGKILL');
      await waitForPidsToExit([...tree], stopTimeoutMs);
    }
    if (log !== undefined) {
      const stream = log;
      await new Promise<void>((resolve) => stream.end(resolve));
    }
    return exit;
  }

  return {
    child,
    exited,
    stop() {
      stopping ??= stopOnce();
      return stopping;
    },
    output: () => Buffer.concat(chunks).toString('utf8'),
  };
}
