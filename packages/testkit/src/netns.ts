import { execFile, execFileSync, spawn as spawnChild, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { findCommand, isRoot } from './environment.js';
import { signalProcessTree, waitForPidsToExit } from './process-tree.js';

/** A throwaway network namespace. Always call `destroy()` in `afterAll`/`finally`. */
export interface Netns {
  /** `hearth-` + 8 random lowercase hex characters (15 bytes, the IFNAMSIZ-style limit). */
  readonly name: string;
  /**
   * Runs `ip netns exec <name> ...argv` (argument array, no shell). Resolves with the output;
   * rejects with an error carrying stderr when the command fails.
   */
  exec(argv: readonly string[], options?: { readonly timeoutMs?: number }): Promise<ExecResult>;
  /** Starts `argv` inside the namespace in its own process group; `destroy()` kills it and its children. */
  spawn(argv: readonly string[], options?: SpawnOptions): ChildProcess;
  /** Kills every process in the namespace, then deletes it. Idempotent. */
  destroy(): Promise<void>;
}

export interface ExecResult {
  readonly stdout: string;
  readonly stderr: string;
}

const killTimeoutMs = 5_000;
const live = new Set<string>();
let exitHookInstalled = false;

function ipBin(): string {
  return findCommand('ip') ?? 'ip';
}

function run(argv: readonly string[], timeoutMs = 30_000): Promise<ExecResult> {
  const [file, ...args] = argv;
  if (file === undefined) return Promise.reject(new Error('empty argv'));
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error) {
        const status = error.killed ? `killed by ${error.signal ?? 'timeout'}` : `exit ${String(error.code)}`;
        const detail = stderr.trim() || error.message;
        reject(Object.assign(new Error(`${argv.join(' ')} failed (${status}): ${detail}`, { cause: error }), { stdout, stderr }));
      } else {
        resolve({ stdout, stderr });
      }
    });
  });
}

function pidsIn(name: string): number[] {
  try {
    return execFileSync(ipBin(), ['netns', 'pids', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/** Last resort when the test process exits without calling destroy(): synchronous best effort. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const name of live) {
      for (const pid of pidsIn(name)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      try {
        execFileSync(ipBin(), ['netns', 'del', name], { stdio: 'ignore' });
      } catch {
        // nothing more we can do while exiting
      }
    }
  });
}

function randomName(): string {
  return `hearth-${randomBytes(4).toString('hex')}`;
}

/**
 * Creates a network namespace `hearth-<random>` with `lo` up. Needs root and the `ip` command
 * (iproute2). Send traffic only inside it, and delete it with `destroy()` in `afterAll`/`finally`
 * so it is removed even when a test fails.
 */
export async function createNetns(): Promise<Netns> {
  if (!isRoot) throw new Error('createNetns needs root');
  const ip = ipBin();
  let name = randomName();
  for (let attempt = 1; ; attempt++) {
    try {
      await run([ip, 'netns', 'add', name]);
      break;
    } catch (error) {
      if (attempt >= 3 || !existsSync(`/run/netns/${name}`)) throw error;
      name = randomName();
    }
  }
  live.add(name);
  installExitHook();

  const children = new Set<ChildProcess>();
  let destroying: Promise<void> | undefined;

  async function destroyOnce(): Promise<void> {
    const problems: string[] = [];
    for (const child of children) {
      if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) continue;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      const pids = signalProcessTree(child.pid, 'SIGKILL');
      const timedOut = await Promise.race([
        exited.then(() => false),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(true), killTimeoutMs).unref()),
      ]);
      if (timedOut) problems.push(`process ${child.pid} did not exit after SIGKILL`);
      await waitForPidsToExit(pids, killTimeoutMs).catch((error: Error) => problems.push(error.message));
    }
    const strays = pidsIn(name);
    for (const pid of strays) signalProcessTree(pid, 'SIGKILL');
    await waitForPidsToExit(strays, killTimeoutMs).catch((error: Error) => problems.push(error.message));
    try {
      await run([ip, 'netns', 'del', name]);
    } catch (error) {
      if (existsSync(`/run/netns/${name}`)) problems.push((error as Error).message);
    }
    live.delete(name);
    if (problems.length > 0) throw new Error(`netns ${name} cleanup incomplete: ${problems.join('; ')}`);
  }

  const netns: Netns = {
    name,
    exec: (argv, options) => run([ip, 'netns', 'exec', name, ...argv], options?.timeoutMs),
    spawn(argv, options = {}) {
      if (destroying !== undefined) throw new Error(`netns ${name} is destroyed`);
      const child = spawnChild(ip, ['netns', 'exec', name, ...argv], { ...options, detached: true });
      children.add(child);
      return child;
    },
    destroy() {
      destroying ??= destroyOnce();
      return destroying;
    },
  };

  try {
    await run([ip, '-n', name, 'link', 'set', 'lo', 'up']);
  } catch (error) {
    await netns.destroy().catch(() => undefined);
    throw error;
  }
  return netns;
}
