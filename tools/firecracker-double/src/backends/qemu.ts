/**
 * Real guests: runs the configured kernel and disks under QEMU (`qemu-argv.ts` builds the command
 * line, `qemu-process.ts` supervises the process). Firecracker API calls map to QMP:
 * pause/resume = `stop`/`cont`, SendCtrlAltDel = `send-key`, snapshot create = a migration
 * streamed into the memory file, snapshot load = the same argv plus `-incoming`, fed from that
 * file (`qemu-migration.ts`). With MMDS configured, the guest reaches it through one more NIC that
 * the double serves itself (`qemu-mmds.ts`).
 */
import { closeSync, constants, fstatSync, openSync, realpathSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveNow } from '../working-directory.js';
import { DEFAULT_QEMU_BINARY } from '../config.js';
import { ioErrorText } from '../errno.js';
import { checkKernelImage } from './kernel.js';
import { guestAppend, qemuArgv, unsupportedConfig } from './qemu-argv.js';
import { INCOMING_FROM_FD_ARGV, incomingMigrationEnd, listenForMigration } from './qemu-migration.js';
import { QemuMmdsServer } from './qemu-mmds.js';
import { QemuSupervisor, sleep } from './qemu-process.js';
import type { QemuTrace } from './qemu-trace.js';
import { processTimes } from './process-times.js';
import type { GuestBackend, GuestSpec, RestoreSpec, SnapshotRequest } from './types.js';
import { BackendError } from './types.js';

export interface QemuBackendOptions {
  /**
   * Directory that receives the private `qemu-<pid>` directory (default: the OS temp dir), or a
   * function asked when it is first needed (a directory that may be renamed meanwhile).
   */
  runDir?: string | (() => string);
  /** QEMU binary (default `qemu-system-x86_64`; the binary passes FC_DOUBLE_QEMU, see config.ts). */
  qemuBinary?: string;
  /** Where `setpriv` is looked for, colon separated (default: none, QEMU is started directly; the binary passes PATH). */
  searchPath?: string;
  /** Records the steps of a restore (FC_DOUBLE_TRACE_DIR); default: none. */
  trace?: QemuTrace;
}

/** What a snapshot needs besides the VM resources (stored in the state file by the front). */
export interface QemuSnapshotState {
  format: 'qemu-migration';
  qemuVersion: string;
  /** The exact `-append` of the snapshotted VM: the incoming side must match the source board. */
  append: string;
  memFileBytes: number;
  /**
   * The kernel's real path when the guest booted. QEMU loads `-kernel` again for an incoming
   * migration (Firecracker needs no kernel to restore); the path the VM was configured with may
   * have been a name of the moment, such as another process's `/proc/<pid>/fd/<n>`.
   */
  kernelPath?: string;
}

const QMP_READY_TIMEOUT_MS = 30_000;
const MIGRATION_TIMEOUT_MS = 300_000;
const POLL_MS = 20;
/** Unlimited for practical purposes: QEMU 7.2 throttles migration to 32 MiB/s by default. */
const MIGRATION_BANDWIDTH = 100 * 1024 * 1024 * 1024;

export class QemuBackend implements GuestBackend {
  readonly name = 'qemu';
  private readonly qemu: QemuSupervisor;
  private append = '';
  private kernelPath = '';
  private mmds: QemuMmdsServer | undefined;
  private readonly trace: QemuTrace;

  constructor(opts: QemuBackendOptions = {}) {
    this.trace = opts.trace ?? (() => undefined);
    this.qemu = new QemuSupervisor(
      opts.qemuBinary ?? DEFAULT_QEMU_BINARY,
      opts.runDir ?? tmpdir(),
      opts.searchPath ?? '',
      this.trace,
    );
  }

  async start(spec: GuestSpec): Promise<void> {
    const bad = unsupportedConfig(spec);
    if (bad !== undefined) throw new BackendError(bad);
    const kernel = spec.resources.bootSource?.kernel_image_path ?? '';
    checkKernelImage(kernel);
    const append = guestAppend(spec.cmdline);
    await this.launch(spec, append, []);
    this.kernelPath = realpathSync(resolveNow(kernel));
    // Firecracker answers InstanceStart once the vCPUs run; the guest boots afterwards.
    await this.qemu.waitStatus((s) => s === 'running', QMP_READY_TIMEOUT_MS);
    this.qemu.markLive();
  }

  async pause(): Promise<void> {
    await this.qemu.command('stop');
  }

  async resume(): Promise<void> {
    await this.qemu.command('cont');
  }

  async sendCtrlAltDel(): Promise<void> {
    const keys = ['ctrl', 'alt', 'delete'].map((data) => ({ type: 'qcode', data }));
    await this.qemu.command('send-key', { keys });
  }

  /**
   * Guest memory + device state via QEMU migration into a file; disks are not included, as in
   * Firecracker. NOTE: the memory file is QEMU's migration stream, not Firecracker's raw image of
   * exactly `mem_size_mib` bytes: zero pages are elided and device state is interleaved, so it is
   * usually much smaller. It is exactly what `restore` feeds back with `-incoming`.
   */
  async snapshotCreate(req: SnapshotRequest): Promise<unknown> {
    if (req.snapshotType === 'Diff') throw new BackendError('Diff snapshots are not supported by the qemu backend');
    if (!this.qemu.isRunning) throw new BackendError('QEMU is not running');
    const memPath = resolveNow(req.memFilePath);
    const socketPath = join(this.qemu.ensureWorkDir(), 'migrate-out.sock');
    rmSync(socketPath, { force: true });
    const sink = await listenForMigration(socketPath, memPath);
    try {
      await this.qemu.command('migrate-set-parameters', { 'max-bandwidth': MIGRATION_BANDWIDTH });
      await this.qemu.command('migrate', { uri: sink.uri });
      const deadline = Date.now() + MIGRATION_TIMEOUT_MS;
      for (;;) {
        const info = await this.qemu.command<{ status?: string; 'error-desc'?: string }>('query-migrate');
        if (info.status === 'completed') break;
        if (info.status === 'failed' || info.status === 'cancelled') {
          throw new BackendError(`Memory migration ${info.status}: ${info['error-desc'] ?? 'no details'}`);
        }
        if (Date.now() > deadline) throw new BackendError('Memory migration timed out');
        await sleep(POLL_MS);
      }
      await sink.written;
    } catch (err) {
      if (err instanceof BackendError) throw err;
      throw new BackendError(`Memory file not written: ${ioErrorText(err)}`);
    } finally {
      sink.close();
      rmSync(socketPath, { force: true });
    }
    let size: number;
    try {
      size = statSync(memPath).size;
    } catch (err) {
      throw new BackendError(`Memory file not written: ${ioErrorText(err)}`);
    }
    const state: QemuSnapshotState = {
      format: 'qemu-migration',
      qemuVersion: this.qemu.version(),
      append: this.append,
      memFileBytes: size,
      kernelPath: this.kernelPath,
    };
    return state;
  }

  async restore(spec: RestoreSpec): Promise<void> {
    this.trace('restore-began');
    if (spec.memory.kind !== 'File') {
      throw new BackendError('Failed to load guest memory: the qemu backend supports only File memory backends');
    }
    const state = spec.backendState as Partial<QemuSnapshotState> | null;
    if (!state || state.format !== 'qemu-migration' || typeof state.append !== 'string') {
      throw new BackendError('Failed to load guest memory: the snapshot was not taken by the qemu backend');
    }
    const bad = unsupportedConfig(spec);
    if (bad !== undefined) throw new BackendError(`Failed to build microVM from snapshot: ${bad}`);
    // Opened here and read by QEMU from this descriptor: the file checked is the file loaded.
    let memFd: number;
    try {
      memFd = openSync(resolveNow(spec.memory.path), constants.O_RDONLY);
    } catch (err) {
      throw new BackendError(`Failed to load guest memory: ${ioErrorText(err)}`);
    }
    try {
      await this.restoreFrom(spec, memFd);
    } finally {
      closeSync(memFd);
    }
  }

  private async restoreFrom(spec: RestoreSpec, memFd: number): Promise<void> {
    try {
      if (!fstatSync(memFd).isFile()) throw Object.assign(new Error('not a file'), { code: 'EINVAL' });
    } catch (err) {
      throw new BackendError(`Failed to load guest memory: ${ioErrorText(err)}`);
    }
    const state = spec.backendState as QemuSnapshotState;
    const boot = spec.resources.bootSource;
    const kernelPath = state.kernelPath ?? boot?.kernel_image_path ?? '';
    try {
      checkKernelImage(kernelPath);
    } catch (err) {
      throw new BackendError(`Failed to restore the guest: QEMU needs the kernel it booted: ${(err as Error).message}`);
    }
    const incoming = boot
      ? { ...spec, resources: { ...spec.resources, bootSource: { ...boot, kernel_image_path: kernelPath } } }
      : spec;
    this.kernelPath = kernelPath;
    // -S: stay paused after the incoming migration; resume_vm (or PATCH /vm) sends `cont`. QEMU
    // reads the memory file from the descriptor it is given: nothing is copied through the double.
    await this.launch(incoming, state.append, [...INCOMING_FROM_FD_ARGV], [memFd]);
    let status: string;
    try {
      status = await incomingMigrationEnd(this.qemu.qmp, MIGRATION_TIMEOUT_MS);
      const pid = this.qemu.pid;
      this.trace('migration-ended', { status, ...(pid === undefined ? {} : processTimes(pid)) });
    } catch (err) {
      const detail = await this.qemu.failureText();
      this.qemu.kill();
      throw new BackendError(`Failed to restore the guest: ${detail || (err instanceof Error ? err.message : String(err))}`);
    }
    if (status === 'running') await this.qemu.command('stop');
    else if (status !== 'paused') {
      const detail = await this.qemu.failureText();
      throw new BackendError(`Failed to restore the guest: QEMU is ${status}${detail ? `: ${detail}` : ''}`);
    }
    this.qemu.markLive();
  }

  onExit(listener: (exitCode: number) => void): void {
    this.qemu.onExit(listener);
  }

  /** The guest cannot write Firecracker's boot-timer port under QEMU; never fires. */
  onBootMarker(_listener: () => void): void {}

  dispose(): void {
    this.mmds?.close();
    this.qemu.cleanupSync();
  }

  private async launch(spec: GuestSpec, append: string, extra: string[], extraFds: readonly number[] = []): Promise<void> {
    const mmdsPath = await this.listenForMmds(spec);
    await this.qemu.launch(
      (qmpPath) => [...qemuArgv(spec, append, qmpPath, mmdsPath), ...extra],
      spec.resources.serial?.serial_out_path ?? null,
      extraFds,
    );
    this.append = append;
  }

  /** The MMDS NIC's socket, listening before QEMU connects to it; undefined without MMDS. */
  private async listenForMmds(spec: GuestSpec): Promise<string | undefined> {
    const config = spec.resources.mmdsConfig;
    if (!config) return undefined;
    this.mmds?.close();
    const path = join(this.qemu.ensureWorkDir(), 'mmds.sock');
    rmSync(path, { force: true });
    try {
      this.mmds = await QemuMmdsServer.listen(path, config, spec.mmdsData);
    } catch (err) {
      throw new BackendError(`Cannot serve MMDS to the guest: ${ioErrorText(err)}`);
    }
    return path;
  }
}

export function createQemuBackend(opts: QemuBackendOptions = {}): GuestBackend {
  return new QemuBackend(opts);
}
