/**
 * Supervision of one QEMU process at a time: launching it, its QMP connection, its stderr, its
 * exit, and the host resources around it.
 *
 * QEMU is a child of this process, wrapped with `setpriv --pdeathsig SIGKILL` so that it dies
 * even when the double is SIGKILLed. The QMP socket (and any other socket the backend needs) lives
 * in a private 0700 directory next to the API socket (`<dir>/qemu-<pid>/`), removed on exit.
 */
import type { ChildProcess } from 'node:child_process';
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, chmodSync, closeSync, constants, existsSync, mkdirSync, openSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { resolveNow } from '../working-directory.js';
import { ioErrorText } from '../errno.js';
import { QmpClient } from './qmp.js';
import type { QemuTrace } from './qemu-trace.js';
import { BackendError } from './types.js';

const QMP_CONNECT_TIMEOUT_MS = 30_000;
const POLL_MS = 20;
const STDERR_LIMIT = 64 * 1024;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The first `dir/name` on `path` (colon separated) that this process may execute, or null. */
export function executableOnPath(name: string, path: string): string | null {
  for (const dir of path.split(':')) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      /* not here */
    }
  }
  return null;
}

/** Opens `serial_out_path` like a log sink: a FIFO without a reader must not block. */
export function openSerialOut(path: string): number {
  let fd: number;
  try {
    fd = openSync(path, constants.O_CREAT | constants.O_RDWR | constants.O_NONBLOCK | constants.O_APPEND, 0o644);
  } catch (err) {
    throw new BackendError(`Failed to open the serial output file: ${ioErrorText(err)}`);
  }
  return fd;
}

interface Running {
  child: ChildProcess;
  qmp: QmpClient | undefined;
  stderr: string;
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  exited: Promise<void>;
  /** Set once start/restore succeeded: from then on QEMU's exit ends the double. */
  live: boolean;
}

export class QemuSupervisor {
  private exitListener: ((code: number) => void) | undefined;
  private vm: Running | undefined;
  private workDir: string | undefined;
  private hooksInstalled = false;
  private readonly runDir: () => string;
  /**
   * util-linux's `setpriv`, found on the search path, not run: it sets PR_SET_PDEATHSIG, which Node
   * cannot, then execs QEMU. Running `setpriv --help` to read its options cost every double a
   * blocking fork and exec on the way to its first QEMU (10 ms of CPU, 40–110 ms of wall at load).
   * Its `--pdeathsig` is in every util-linux since 2.33 (2018); an older one makes QEMU's launch
   * fail with setpriv's own message on stderr. Without one, QEMU is started directly.
   */
  private setpriv: string | null | undefined;

  constructor(
    readonly binary: string,
    runDir: string | (() => string),
    private readonly searchPath: string = '',
    private readonly trace: QemuTrace = () => undefined,
  ) {
    // A function is asked at each first use: the directory it names may have been renamed.
    if (typeof runDir === 'string') {
      const fixed = resolveNow(runDir);
      this.runDir = () => fixed;
    } else {
      this.runDir = () => resolveNow(runDir());
    }
  }

  /** Called with the double's exit code when a live QEMU ends (guest reboot or panic). */
  onExit(listener: (exitCode: number) => void): void {
    this.exitListener = listener;
  }

  /** `qemu-system-x86_64 --version`'s version number. */
  version(): string {
    const r = spawnSync(this.binary, ['--version'], { encoding: 'utf8' });
    return /version (\S+)/.exec(r.stdout ?? '')?.[1] ?? 'unknown';
  }

  /** The private directory of this process's QEMU files, created on first use. */
  ensureWorkDir(): string {
    if (this.workDir) return this.workDir;
    const dir = join(this.runDir(), `qemu-${process.pid}`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
    this.workDir = dir;
    return dir;
  }

  /** QEMU must not outlive the double, whichever way the double ends. */
  private installHooks(): void {
    if (this.hooksInstalled) return;
    this.hooksInstalled = true;
    process.on('exit', () => this.cleanupSync());
    // SIGTERM/SIGINT keep their default effect (death by signal): clean up, then re-raise
    // with no listener left. SIGKILL is covered by the pdeathsig of the QEMU process.
    for (const sig of ['SIGTERM', 'SIGINT'] as const) {
      if (process.listenerCount(sig) > 0) continue;
      process.once(sig, () => {
        this.cleanupSync();
        process.kill(process.pid, sig);
      });
    }
  }

  cleanupSync(): void {
    const vm = this.vm;
    if (vm && vm.exit === undefined) {
      try {
        vm.child.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    }
    vm?.qmp?.close();
    if (this.workDir) {
      rmSync(this.workDir, { recursive: true, force: true });
      this.workDir = undefined;
    }
  }

  /**
   * Starts QEMU with `argvFor(qmpPath)` and waits until its QMP socket answers. The serial port
   * (QEMU's stdout) goes to `serialOutPath`, or to the double's stdout when null; its input is the
   * double's stdin. `extraFds` are QEMU's descriptors 3, 4…, in order (the caller keeps and closes its own).
   */
  async launch(
    argvFor: (qmpPath: string) => string[],
    serialOutPath: string | null,
    extraFds: readonly number[] = [],
  ): Promise<void> {
    if (this.vm && this.vm.exit === undefined) throw new BackendError('QEMU is already running');
    this.installHooks();
    const dir = this.ensureWorkDir();
    const qmpPath = join(dir, 'qmp.sock');
    rmSync(qmpPath, { force: true });
    const argv = argvFor(qmpPath);
    const serialFd = serialOutPath !== null ? openSerialOut(serialOutPath) : undefined;
    this.setpriv ??= executableOnPath('setpriv', this.searchPath);
    const pdeathsig = this.setpriv;
    const [cmd, args] =
      pdeathsig !== null ? [pdeathsig, ['--pdeathsig', 'SIGKILL', '--', this.binary, ...argv]] : [this.binary, argv];
    let child: ChildProcess;
    try {
      child = spawn(cmd, args, {
        cwd: dir,
        // The guest's serial input is the double's stdin, as it is Firecracker's (behaviour.md#serial-input).
        stdio: ['inherit', serialFd ?? 'inherit', 'pipe', ...extraFds],
      });
    } finally {
      if (serialFd !== undefined) closeSync(serialFd);
    }
    this.trace('qemu-spawned', { pid: child.pid ?? null });
    let resolveExited: () => void = () => undefined;
    const vm: Running = {
      child,
      qmp: undefined,
      stderr: '',
      exit: undefined,
      exited: new Promise<void>((r) => (resolveExited = r)),
      live: false,
    };
    this.vm = vm;
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => {
      if (vm.stderr.length < STDERR_LIMIT) vm.stderr += d;
      // Keep QEMU's own diagnostics visible, as Firecracker's would be, on our stderr.
      process.stderr.write(d);
    });
    const onGone = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (vm.exit !== undefined) return;
      vm.exit = { code, signal };
      vm.qmp?.close();
      resolveExited();
      // A guest reboot (reboot=k + -no-reboot) or panic ends QEMU: the double ends too.
      if (vm.live && this.vm === vm) this.exitListener?.(code === 0 ? 0 : 1);
    };
    child.on('exit', onGone);
    child.on('error', (err) => {
      vm.stderr += `${cmd}: ${err.message}\n`;
      onGone(null, null);
    });
    try {
      vm.qmp = await this.connectQmp(vm, qmpPath);
      this.trace('qmp-ready');
    } catch (err) {
      const detail = await this.failureText(vm);
      this.killVm(vm);
      throw new BackendError(detail || (err instanceof Error ? err.message : String(err)));
    }
  }

  /** From now on, QEMU's exit is the guest's exit and ends the double. */
  markLive(): void {
    if (this.vm) this.vm.live = true;
  }

  /** The current QEMU's QMP connection, while it runs. */
  get qmp(): QmpClient {
    const qmp = this.vm?.exit === undefined ? this.vm?.qmp : undefined;
    if (!qmp) throw new BackendError('QEMU is not running');
    return qmp;
  }

  /** The current QEMU's pid, while it runs. */
  get pid(): number | undefined {
    return this.vm?.exit === undefined ? this.vm?.child.pid : undefined;
  }

  /** True while the current QEMU has not exited. */
  get isRunning(): boolean {
    return this.vm !== undefined && this.vm.exit === undefined;
  }

  private async connectQmp(vm: Running, path: string): Promise<QmpClient> {
    const deadline = Date.now() + QMP_CONNECT_TIMEOUT_MS;
    for (;;) {
      if (vm.exit !== undefined) throw new Error('QEMU exited during startup');
      if (existsSync(path)) {
        try {
          return await QmpClient.connect(path);
        } catch {
          /* not listening yet */
        }
      }
      if (Date.now() > deadline) throw new Error('QEMU did not open its QMP socket in time');
      await sleep(POLL_MS);
    }
  }

  /** QEMU's stderr once it has exited (waits briefly for the exit), trimmed to one message. */
  async failureText(vm = this.vm): Promise<string> {
    if (!vm) return '';
    await Promise.race([vm.exited, sleep(2000)]);
    const text = vm.stderr
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '')
      .join('; ');
    if (text) return text;
    if (vm.exit) return `QEMU exited with ${vm.exit.signal ?? `status ${String(vm.exit.code)}`}`;
    return '';
  }

  /** Kills the current QEMU, if any (its exit then does not end the double: it was never live). */
  kill(): void {
    if (this.vm) this.killVm(this.vm);
  }

  private killVm(vm: Running): void {
    vm.qmp?.close();
    if (vm.exit === undefined) vm.child.kill('SIGKILL');
    if (this.vm === vm) this.vm = undefined;
  }

  /** Polls `query-status` until `done` accepts it; kills QEMU on failure or timeout. */
  async waitStatus(done: (status: string) => boolean, timeoutMs: number): Promise<string> {
    const vm = this.vm;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      let status: string;
      try {
        status = (await this.command<{ status: string }>('query-status')).status;
      } catch (err) {
        const detail = await this.failureText(vm);
        if (vm) this.killVm(vm);
        throw new BackendError(detail || (err instanceof Error ? err.message : String(err)));
      }
      if (done(status)) return status;
      if (Date.now() > deadline) {
        if (vm) this.killVm(vm);
        throw new BackendError(`QEMU stayed in state ${status}`);
      }
      await sleep(POLL_MS);
    }
  }

  async command<T = unknown>(name: string, args?: Record<string, unknown>): Promise<T> {
    const qmp = this.vm?.exit === undefined ? this.vm?.qmp : undefined;
    if (!qmp) throw new BackendError('QEMU is not running');
    try {
      return await qmp.execute<T>(name, args);
    } catch (err) {
      throw new BackendError(`QMP ${name} failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}
