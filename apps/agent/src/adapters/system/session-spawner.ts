import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { constants as osConstants } from 'node:os';
import type { VmmExit } from '../../application/ports/vmm.js';

/** A program to start in a session of its own, detached from the Agent. */
export interface SessionSpawnRequest {
  /** Looked up in the Agent's `PATH` when it holds no `/`. */
  readonly file: string;
  readonly args: readonly string[];
  readonly cwd: string;
  /** The whole environment of the process. Kept as given: the same object may be passed to every spawn. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Its stdin, stdout and stderr; the caller closes its own copies after the spawn. */
  readonly stdio: readonly [number, number, number];
}

/**
 * Starts long-lived processes the Agent does not wait for (the VMMs): each in a session of its own,
 * every signal at its default and none blocked, the Agent's umask at the call, no descriptor but its
 * stdio inherited (the Agent opens every other one close-on-exec).
 */
export interface SessionSpawner {
  /** How the process is made, for the Agent's start-up log. */
  readonly method: 'posix_spawn' | 'fork';
  /**
   * Starts the process and resolves with its pid once it runs the program; a program that could not
   * be executed rejects. The process is made before the call returns (so a umask set around the call
   * is the one it gets). `onExit` is called once, after the process has ended and been reaped, while
   * the Agent runs.
   */
  spawn(request: SessionSpawnRequest, onExit: (exit: VmmExit) => void): Promise<number>;
}

/**
 * Node's own `spawn`: libuv forks the Agent (the kernel copies its page tables, and every page the
 * Agent then writes faults once) and blocks the event loop until the child has exec'd.
 */
export class ForkSessionSpawner implements SessionSpawner {
  readonly method = 'fork';

  spawn(request: SessionSpawnRequest, onExit: (exit: VmmExit) => void): Promise<number> {
    const child = spawn(request.file, request.args, {
      cwd: request.cwd,
      detached: true,
      env: request.env,
      stdio: [...request.stdio],
    });
    return new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('spawn', () => {
        child.unref();
        // No event loop turn passes between the spawn and this listener (only resolved promises), so no exit is missed.
        child.once('exit', (code, signal) => onExit({ code, signal }));
        resolve(child.pid!);
      });
    });
  }
}

/** glibc's `posix_spawnattr_setflags` bits used here. */
const POSIX_SPAWN_SETSIGDEF = 0x04;
const POSIX_SPAWN_SETSIGMASK = 0x08;
const POSIX_SPAWN_SETSID = 0x80;
const WNOHANG = 1;
const WEXITED = 4;
const WNOWAIT = 0x0100_0000;
const P_ALL = 0;
/** `siginfo_t`'s `si_pid`: after three ints, and on 64-bit after the padding that aligns its union. */
const siPidOffset = ['arm', 'ia32'].includes(process.arch) ? 12 : 16;
const siginfoBytes = 128;

/** Room for glibc's opaque types on 64-bit Linux (80, 336 and 128 bytes), with margin. */
const fileActionsBytes = 256;
const attributesBytes = 512;
const sigsetBytes = 256;

/** The functions of the C library used to start and reap processes. */
interface LibcSpawn {
  readonly posixSpawnp: (
    pid: [number],
    file: string,
    fileActions: Buffer,
    attributes: Buffer,
    argv: (string | null)[],
    envp: (string | null)[],
  ) => number;
  readonly fileActionsInit: (actions: Buffer) => number;
  readonly fileActionsDestroy: (actions: Buffer) => number;
  readonly addChdir: (actions: Buffer, path: string) => number;
  readonly addDup2: (actions: Buffer, fd: number, newFd: number) => number;
  readonly addCloseFrom: (actions: Buffer, lowFd: number) => number;
  readonly waitpid: (pid: number, status: [number], options: number) => number;
  /** The pid of a child that has ended, left unreaped; 0 when none has (or there is no child). */
  readonly endedChild: () => number;
  /** Spawn attributes made once: a new session, every signal at its default, none blocked. */
  readonly attributes: Buffer;
}

/** A number's first name (Node lists SIGABRT before SIGIOT, EAGAIN before EWOULDBLOCK). */
function namesByNumber(constants: Readonly<Record<string, number>>): Map<number, string> {
  const names = new Map<number, string>();
  for (const [name, number] of Object.entries(constants)) if (!names.has(number)) names.set(number, name);
  return names;
}

const signalNames = namesByNumber(osConstants.signals);
const errnoNames = namesByNumber(osConstants.errno);

/**
 * glibc's `posix_spawnp`, called through the koffi FFI: the child is made with `clone(CLONE_VM |
 * CLONE_VFORK)`, sharing the Agent's memory until it execs, so no page table is copied and no page
 * of the Agent's faults afterwards; the call returns once the child has exec'd, and reports an exec
 * that failed. Node and libuv offer only a fork on Linux.
 *
 * Node reaps only the children it spawned itself, so these are reaped here, at SIGCHLD: `waitid`
 * names a child that has ended without reaping it, and one started here is reaped with `waitpid`.
 * Each call through the FFI costs 1–2 µs, so a host's 500 VMMs are not each asked at every exit.
 */
export class PosixSessionSpawner implements SessionSpawner {
  readonly method = 'posix_spawn';
  private readonly running = new Map<number, (exit: VmmExit) => void>();
  private readonly environments = new WeakMap<object, (string | null)[]>();
  private listening = false;
  private recheckQueued = false;
  private readonly status: [number] = [0];
  private readonly onSigchld = (): void => this.reapEnded(false);

  /**
   * Reaps the processes started here that have ended. A child of Node's own that has ended is left
   * to Node, which reaps it at the same signal: the look is taken again once Node has (`recheck`),
   * and if that child is still there, each process started here is asked by its pid.
   */
  private reapEnded(recheck: boolean): void {
    for (;;) {
      const pid = this.libc.endedChild();
      if (pid <= 0) break;
      if (!this.running.has(pid)) {
        if (recheck) this.reapEach();
        else if (!this.recheckQueued) {
          this.recheckQueued = true;
          setImmediate(() => {
            this.recheckQueued = false;
            this.reapEnded(true);
          });
        }
        break;
      }
      this.reapOne(pid);
    }
    if (this.running.size === 0) this.stopListening();
  }

  private reapEach(): void {
    for (const pid of this.running.keys()) this.reapOne(pid);
  }

  private reapOne(pid: number): void {
    const reaped = this.libc.waitpid(pid, this.status, WNOHANG);
    if (reaped === 0) return;
    const onExit = this.running.get(pid)!;
    this.running.delete(pid);
    // -1: not a child any more (reaped elsewhere): it has ended, how is not known.
    onExit(reaped === pid ? decodeWaitStatus(this.status[0]) : { code: null, signal: null });
  }

  private constructor(private readonly libc: LibcSpawn) {}

  /** The spawner, or the reason it cannot be had here (no koffi for this platform, or a C library without the calls). */
  static load(): PosixSessionSpawner | { readonly unavailable: string } {
    try {
      return new PosixSessionSpawner(loadLibc());
    } catch (error) {
      return { unavailable: error instanceof Error ? error.message : String(error) };
    }
  }

  spawn(request: SessionSpawnRequest, onExit: (exit: VmmExit) => void): Promise<number> {
    const { libc } = this;
    const actions = Buffer.alloc(fileActionsBytes);
    check('posix_spawn_file_actions_init', libc.fileActionsInit(actions));
    try {
      check('posix_spawn_file_actions_addchdir_np', libc.addChdir(actions, request.cwd));
      request.stdio.forEach((fd, target) => check('posix_spawn_file_actions_adddup2', libc.addDup2(actions, fd, target)));
      check('posix_spawn_file_actions_addclosefrom_np', libc.addCloseFrom(actions, 3));
      const pid: [number] = [0];
      const argv = [request.file, ...request.args, null];
      // SIGCHLD listened to before the child exists, so its exit is never missed.
      this.startListening();
      const failed = libc.posixSpawnp(pid, request.file, actions, libc.attributes, argv, this.environment(request.env));
      if (failed !== 0) {
        if (this.running.size === 0) this.stopListening();
        const code = errnoNames.get(failed) ?? `errno ${failed}`;
        return Promise.reject(Object.assign(new Error(`posix_spawn ${request.file} ${code}`), { code }));
      }
      this.running.set(pid[0], onExit);
      return Promise.resolve(pid[0]);
    } finally {
      libc.fileActionsDestroy(actions);
    }
  }

  /** `NAME=value` strings for an environment object, made once per object. */
  private environment(env: Readonly<Record<string, string | undefined>>): (string | null)[] {
    let strings = this.environments.get(env);
    if (strings === undefined) {
      strings = [...Object.entries(env).flatMap(([name, value]) => (value === undefined ? [] : [`${name}=${value}`])), null];
      this.environments.set(env, strings);
    }
    return strings;
  }

  private startListening(): void {
    if (this.listening) return;
    process.on('SIGCHLD', this.onSigchld);
    this.listening = true;
  }

  private stopListening(): void {
    if (!this.listening) return;
    process.off('SIGCHLD', this.onSigchld);
    this.listening = false;
  }
}

/** How a `waitpid` status reads: the exit code, or the signal that ended the process. */
export function decodeWaitStatus(status: number): VmmExit {
  const signal = status & 0x7f;
  if (signal === 0) return { code: (status >> 8) & 0xff, signal: null };
  return { code: null, signal: signalNames.get(signal) ?? `SIG${signal}` };
}

function check(call: string, result: number): void {
  if (result !== 0) throw new Error(`${call} failed: ${errnoNames.get(result) ?? `errno ${result}`}`);
}

function loadLibc(): LibcSpawn {
  if (process.platform !== 'linux') throw new Error(`posix_spawn is used on Linux only, not ${process.platform}`);
  // Loaded at run time: a native module, outside the Agent's bundle. An Agent file copied alone to
  // a host has none, and forks instead.
  const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
  const libc = koffi.load('libc.so.6');
  const noSignal = Buffer.alloc(sigsetBytes);
  check('sigemptyset', libc.func('int sigemptyset(void *set)')(noSignal) as number);
  // Every signal, 1 to 64 (bit N - 1 of the set's first word): glibc's two internal ones (32 and 33)
  // included, which `sigfillset` leaves out and which `posix_spawn` would otherwise leave ignored.
  const everySignal = Buffer.from(noSignal);
  everySignal.writeBigUInt64LE(0xffff_ffff_ffff_ffffn, 0);
  const attributes = Buffer.alloc(attributesBytes);
  check('posix_spawnattr_init', libc.func('int posix_spawnattr_init(void *attr)')(attributes) as number);
  check(
    'posix_spawnattr_setflags',
    libc.func('int posix_spawnattr_setflags(void *attr, short flags)')(
      attributes,
      POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF,
    ) as number,
  );
  check(
    'posix_spawnattr_setsigmask',
    libc.func('int posix_spawnattr_setsigmask(void *attr, void *set)')(attributes, noSignal) as number,
  );
  // Every signal back to its default: the Agent (Node) ignores SIGPIPE and SIGXFSZ, and an ignored
  // signal stays ignored across exec.
  check(
    'posix_spawnattr_setsigdefault',
    libc.func('int posix_spawnattr_setsigdefault(void *attr, void *set)')(attributes, everySignal) as number,
  );
  const waitid = libc.func('int waitid(int idtype, int id, void *info, int options)') as (
    idtype: number,
    id: number,
    info: Buffer,
    options: number,
  ) => number;
  const siginfo = Buffer.alloc(siginfoBytes);
  return {
    posixSpawnp: libc.func(
      'int posix_spawnp(_Out_ int *pid, const char *file, void *actions, void *attr, const char **argv, const char **envp)',
    ) as LibcSpawn['posixSpawnp'],
    fileActionsInit: libc.func('int posix_spawn_file_actions_init(void *actions)') as LibcSpawn['fileActionsInit'],
    fileActionsDestroy: libc.func('int posix_spawn_file_actions_destroy(void *actions)') as LibcSpawn['fileActionsDestroy'],
    // glibc 2.29 and 2.34 (Debian 12, Ubuntu 22.04 and later).
    addChdir: libc.func('int posix_spawn_file_actions_addchdir_np(void *actions, const char *path)') as LibcSpawn['addChdir'],
    addDup2: libc.func('int posix_spawn_file_actions_adddup2(void *actions, int fd, int newfd)') as LibcSpawn['addDup2'],
    addCloseFrom: libc.func('int posix_spawn_file_actions_addclosefrom_np(void *actions, int from)') as LibcSpawn['addCloseFrom'],
    waitpid: libc.func('int waitpid(int pid, _Out_ int *status, int options)') as LibcSpawn['waitpid'],
    endedChild: () => {
      siginfo.fill(0);
      return waitid(P_ALL, 0, siginfo, WEXITED | WNOHANG | WNOWAIT) === 0 ? siginfo.readInt32LE(siPidOffset) : 0;
    },
    attributes,
  };
}

let loaded: { readonly spawner: SessionSpawner; readonly reason?: string } | undefined;

/**
 * The posix_spawn spawner where it can be had, else Node's fork, and why; one for the process (each
 * posix_spawn spawner listens to SIGCHLD while its processes run).
 */
export function loadSessionSpawner(): { readonly spawner: SessionSpawner; readonly reason?: string } {
  if (loaded === undefined) {
    const posix = PosixSessionSpawner.load();
    loaded =
      posix instanceof PosixSessionSpawner
        ? { spawner: posix }
        : { spawner: new ForkSessionSpawner(), reason: posix.unavailable };
  }
  return loaded;
}
