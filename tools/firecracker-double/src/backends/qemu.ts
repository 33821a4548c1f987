/**
 * Real guests: runs the configured kernel and disks under `qemu-system-x86_64 -M microvm` with
 * TCG, a board shaped like Firecracker's (no ACPI, no option ROMs, no RTC, an i8042 for
 * Ctrl+Alt+Del, virtio-mmio block and net devices, one 8250 serial port). Firecracker API calls
 * map to QMP: pause/resume = `stop`/`cont`, SendCtrlAltDel = `send-key`, snapshot create =
 * migration to a file, snapshot load = the same argv plus `-incoming`.
 *
 * Host resources: QEMU is a child of this process, wrapped with `setpriv --pdeathsig SIGKILL` so
 * that it dies even when the double is SIGKILLed. The QMP socket lives in a private 0700
 * directory next to the API socket (`<dir>/qemu-<pid>/`), removed on exit.
 */
import type { ChildProcess } from 'node:child_process';
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  constants,
  existsSync,
  fstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ioErrorText } from '../errno.js';
import { checkKernelImage } from './kernel.js';
import { QmpClient } from './qmp.js';
import type { GuestBackend, GuestSpec, RestoreSpec, SnapshotRequest } from './types.js';
import { BackendError } from './types.js';

export interface QemuBackendOptions {
  /** Directory that receives the private `qemu-<pid>` directory (default: the OS temp dir). */
  runDir?: string;
  /** QEMU binary (default `FC_DOUBLE_QEMU` or `qemu-system-x86_64`). */
  qemuBinary?: string;
}

/** What a snapshot needs besides the VM resources (stored in the state file by the front). */
export interface QemuSnapshotState {
  format: 'qemu-migration';
  qemuVersion: string;
  /** The exact `-append` of the snapshotted VM: the incoming side must match the source board. */
  append: string;
  memFileBytes: number;
}

const QMP_CONNECT_TIMEOUT_MS = 30_000;
const MIGRATION_TIMEOUT_MS = 300_000;
const POLL_MS = 20;
const STDERR_LIMIT = 64 * 1024;
/** Unlimited for practical purposes: QEMU 7.2 throttles migration to 32 MiB/s by default. */
const MIGRATION_BANDWIDTH = 100 * 1024 * 1024 * 1024;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Host TSC frequency in kHz ("cpu MHz" of /proc/cpuinfo), handed to TCG guests. */
export function hostTscKhz(cpuinfo?: string): number | undefined {
  let text = cpuinfo;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/cpuinfo', 'utf8');
    } catch {
      return undefined;
    }
  }
  const m = /^cpu MHz\s*:\s*([0-9.]+)/m.exec(text);
  if (!m) return undefined;
  const khz = Math.round(Number(m[1]) * 1000);
  return Number.isFinite(khz) && khz > 0 ? khz : undefined;
}

/**
 * Under TCG the guest calibrates its TSC against the PIT and hangs early under host load;
 * `tsc_early_khz=` hands it the frequency instead.
 */
export function guestAppend(cmdline: string, tscKhz = hostTscKhz()): string {
  if (tscKhz === undefined || /(?:^|\s)tsc_early_khz=/.test(cmdline)) return cmdline;
  return `${cmdline} tsc_early_khz=${tscKhz}`;
}

/** QEMU option values escape `,` by doubling it. */
function opt(value: string): string {
  return value.replace(/,/g, ',,');
}

/** For `exec:` migration URIs, which QEMU runs with `/bin/sh -c`. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Configuration the qemu backend cannot run; undefined when everything is supported. */
export function unsupportedConfig(spec: GuestSpec): string | undefined {
  const r = spec.resources;
  const what: string[] = [];
  if (spec.enablePci) what.push('PCI (--enable-pci)');
  if (r.pmem.length > 0) what.push('pmem devices');
  if (r.drives.some((d) => d.socket !== null || d.path_on_host === null)) what.push('vhost-user block devices');
  if (r.vsock) what.push('vsock');
  if (r.memoryHotplug) what.push('memory hotplug');
  if (r.drives.some((d) => d.is_root_device && d.partuuid)) what.push('root by PARTUUID');
  if (what.length === 0) return undefined;
  return `The qemu backend does not support: ${what.join(', ')}`;
}

/**
 * The QEMU command line for `spec` (without the binary). The serial port is QEMU's stdout;
 * the caller wires that to `serial_out_path` or to the double's stdout.
 */
export function qemuArgv(spec: GuestSpec, append: string, qmpPath: string): string[] {
  const r = spec.resources;
  const boot = r.bootSource;
  if (!boot) throw new BackendError('Cannot start microvm without kernel configuration.');
  // rtc=on: under TCG the guest has no kvm-clock, and without a CMOS clock Linux spends about
  // 1.1 s probing for one (measured in images/README.md); Firecracker guests use kvm-clock instead.
  // prettier-ignore
  const argv = [
    '-M', 'microvm,x-option-roms=off,rtc=on,acpi=off',
    '-accel', 'tcg',
    '-cpu', 'max',
    '-smp', String(r.machine.vcpu_count),
    '-m', String(r.machine.mem_size_mib),
    '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
    '-device', 'i8042',
    '-chardev', 'stdio,id=ser0,signal=off',
    '-serial', 'chardev:ser0',
    '-kernel', resolve(boot.kernel_image_path),
  ];
  if (boot.initrd_path) argv.push('-initrd', resolve(boot.initrd_path));
  argv.push('-append', append);
  // Root drive first so that it is /dev/vda, as Firecracker attaches it.
  const drives = [...r.drives.filter((d) => d.is_root_device), ...r.drives.filter((d) => !d.is_root_device)];
  drives.forEach((d, i) => {
    const id = `drive${i}`;
    const cache = d.cache_type === 'Writeback' ? 'writeback' : 'unsafe';
    // Firecracker takes no image locks; neither do we (a restored copy may share the disk).
    let drive = `id=${id},file=${opt(resolve(d.path_on_host ?? ''))},format=raw,if=none,cache=${cache},file.locking=off`;
    if (d.is_read_only) drive += ',readonly=on';
    argv.push('-drive', drive, '-device', `virtio-blk-device,drive=${id}`);
  });
  r.net.forEach((n, i) => {
    const id = `net${i}`;
    argv.push('-netdev', `tap,id=${id},ifname=${opt(n.host_dev_name)},script=no,downscript=no`);
    argv.push('-device', `virtio-net-device,netdev=${id}${n.guest_mac ? `,mac=${n.guest_mac}` : ''}`);
  });
  if (r.balloon) argv.push('-device', `virtio-balloon-device,deflate-on-oom=${r.balloon.deflate_on_oom ? 'on' : 'off'}`);
  if (r.entropy) argv.push('-object', 'rng-random,id=rng0,filename=/dev/urandom', '-device', 'virtio-rng-device,rng=rng0');
  argv.push('-qmp', `unix:${opt(qmpPath)},server=on,wait=off`);
  return argv;
}

let setprivChecked: boolean | undefined;
/** util-linux setpriv sets PR_SET_PDEATHSIG, which Node cannot, then execs QEMU. */
function hasSetprivPdeathsig(): boolean {
  if (setprivChecked === undefined) {
    const r = spawnSync('setpriv', ['--help'], { encoding: 'utf8' });
    setprivChecked = r.status === 0 && (r.stdout ?? '').includes('--pdeathsig');
  }
  return setprivChecked;
}

function qemuVersion(binary: string): string {
  const r = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  return /version (\S+)/.exec(r.stdout ?? '')?.[1] ?? 'unknown';
}

/** Opens `serial_out_path` like a log sink: a FIFO without a reader must not block. */
function openSerialOut(path: string): number {
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

export class QemuBackend implements GuestBackend {
  readonly name = 'qemu';
  private exitListener: ((code: number) => void) | undefined;
  private vm: Running | undefined;
  private append = '';
  private workDir: string | undefined;
  private hooksInstalled = false;
  private readonly binary: string;
  private readonly runDir: string;

  constructor(opts: QemuBackendOptions = {}) {
    this.binary = opts.qemuBinary ?? process.env['FC_DOUBLE_QEMU'] ?? 'qemu-system-x86_64';
    this.runDir = resolve(opts.runDir ?? tmpdir());
  }

  async start(spec: GuestSpec): Promise<void> {
    const bad = unsupportedConfig(spec);
    if (bad !== undefined) throw new BackendError(bad);
    checkKernelImage(spec.resources.bootSource?.kernel_image_path ?? '');
    const append = guestAppend(spec.cmdline);
    await this.launch(spec, append, []);
    // Firecracker answers InstanceStart once the vCPUs run; the guest boots afterwards.
    await this.waitStatus((s) => s === 'running', QMP_CONNECT_TIMEOUT_MS);
    this.markLive();
  }

  async pause(): Promise<void> {
    await this.command('stop');
  }

  async resume(): Promise<void> {
    await this.command('cont');
  }

  async sendCtrlAltDel(): Promise<void> {
    const keys = ['ctrl', 'alt', 'delete'].map((data) => ({ type: 'qcode', data }));
    await this.command('send-key', { keys });
  }

  /**
   * Guest memory + device state via QEMU migration to a file; disks are not included, as in
   * Firecracker. NOTE: the memory file is QEMU's migration stream, not Firecracker's raw image of
   * exactly `mem_size_mib` bytes: zero pages are elided and device state is interleaved, so it is
   * usually much smaller. It is exactly what `restore` feeds back with `-incoming`.
   */
  async snapshotCreate(req: SnapshotRequest): Promise<unknown> {
    if (req.snapshotType === 'Diff') throw new BackendError('Diff snapshots are not supported by the qemu backend');
    const memPath = resolve(req.memFilePath);
    await this.command('migrate-set-parameters', { 'max-bandwidth': MIGRATION_BANDWIDTH });
    await this.command('migrate', { uri: `exec:cat > ${shellQuote(memPath)}` });
    const deadline = Date.now() + MIGRATION_TIMEOUT_MS;
    for (;;) {
      const info = await this.command<{ status?: string; 'error-desc'?: string }>('query-migrate');
      if (info.status === 'completed') break;
      if (info.status === 'failed' || info.status === 'cancelled') {
        throw new BackendError(`Memory migration ${info.status}: ${info['error-desc'] ?? 'no details'}`);
      }
      if (Date.now() > deadline) throw new BackendError('Memory migration timed out');
      await sleep(POLL_MS);
    }
    let size: number;
    try {
      size = statSync(memPath).size;
    } catch (err) {
      throw new BackendError(`Memory file not written: ${ioErrorText(err)}`);
    }
    const state: QemuSnapshotState = {
      format: 'qemu-migration',
      qemuVersion: qemuVersion(this.binary),
      append: this.append,
      memFileBytes: size,
    };
    return state;
  }

  async restore(spec: RestoreSpec): Promise<void> {
    if (spec.memory.kind !== 'File') {
      throw new BackendError('Failed to load guest memory: the qemu backend supports only File memory backends');
    }
    const state = spec.backendState as Partial<QemuSnapshotState> | null;
    if (!state || state.format !== 'qemu-migration' || typeof state.append !== 'string') {
      throw new BackendError('Failed to load guest memory: the snapshot was not taken by the qemu backend');
    }
    const bad = unsupportedConfig(spec);
    if (bad !== undefined) throw new BackendError(`Failed to build microVM from snapshot: ${bad}`);
    const memPath = resolve(spec.memory.path);
    try {
      const fd = openSync(memPath, constants.O_RDONLY);
      const isFile = fstatSync(fd).isFile();
      closeSync(fd);
      if (!isFile) throw Object.assign(new Error('not a file'), { code: 'EINVAL' });
    } catch (err) {
      throw new BackendError(`Failed to load guest memory: ${ioErrorText(err)}`);
    }
    // -S: stay paused after the incoming migration; resume_vm (or PATCH /vm) sends `cont`.
    await this.launch(spec, state.append, ['-S', '-incoming', `exec:cat ${shellQuote(memPath)}`]);
    const status = await this.waitStatus((s) => s !== 'inmigrate' && s !== 'prelaunch', MIGRATION_TIMEOUT_MS);
    if (status === 'running') await this.command('stop');
    else if (status !== 'paused') {
      const detail = await this.failureText();
      throw new BackendError(`Failed to restore the guest: QEMU is ${status}${detail ? `: ${detail}` : ''}`);
    }
    this.markLive();
  }

  onExit(listener: (exitCode: number) => void): void {
    this.exitListener = listener;
  }

  /** The guest cannot write Firecracker's boot-timer port under QEMU; never fires. */
  onBootMarker(_listener: () => void): void {}

  dispose(): void {
    this.cleanupSync();
  }

  // ---------------------------------------------------------------------------------------

  private ensureWorkDir(): string {
    if (this.workDir) return this.workDir;
    const dir = join(this.runDir, `qemu-${process.pid}`);
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

  private cleanupSync(): void {
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

  private async launch(spec: GuestSpec, append: string, extra: string[]): Promise<void> {
    if (this.vm && this.vm.exit === undefined) throw new BackendError('QEMU is already running');
    this.installHooks();
    const dir = this.ensureWorkDir();
    const qmpPath = join(dir, 'qmp.sock');
    rmSync(qmpPath, { force: true });
    const argv = [...qemuArgv(spec, append, qmpPath), ...extra];
    const serialPath = spec.resources.serial?.serial_out_path ?? null;
    const serialFd = serialPath !== null ? openSerialOut(serialPath) : undefined;
    const [cmd, args] = hasSetprivPdeathsig()
      ? ['setpriv', ['--pdeathsig', 'SIGKILL', '--', this.binary, ...argv]]
      : [this.binary, argv];
    let child: ChildProcess;
    try {
      child = spawn(cmd, args, {
        cwd: dir,
        stdio: ['ignore', serialFd ?? 'inherit', 'pipe'],
      });
    } finally {
      if (serialFd !== undefined) closeSync(serialFd);
    }
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
    this.append = append;
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
    } catch (err) {
      const detail = await this.failureText(vm);
      this.killVm(vm);
      throw new BackendError(detail || (err instanceof Error ? err.message : String(err)));
    }
  }

  private markLive(): void {
    if (this.vm) this.vm.live = true;
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
  private async failureText(vm = this.vm): Promise<string> {
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

  private killVm(vm: Running): void {
    vm.qmp?.close();
    if (vm.exit === undefined) vm.child.kill('SIGKILL');
    if (this.vm === vm) this.vm = undefined;
  }

  private async waitStatus(done: (status: string) => boolean, timeoutMs: number): Promise<string> {
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

  private async command<T = unknown>(name: string, args?: Record<string, unknown>): Promise<T> {
    const qmp = this.vm?.exit === undefined ? this.vm?.qmp : undefined;
    if (!qmp) throw new BackendError('QEMU is not running');
    try {
      return await qmp.execute<T>(name, args);
    } catch (err) {
      throw new BackendError(`QMP ${name} failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}

export function createQemuBackend(opts: QemuBackendOptions = {}): GuestBackend {
  return new QemuBackend(opts);
}
