import { closeSync, constants, ftruncateSync, openSync, statSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { ioErrorText } from '../errno.js';
import { checkKernelImage } from './kernel.js';
import type { GuestBackend, GuestSpec, RestoreSpec, SnapshotRequest } from './types.js';
import { BackendError } from './types.js';

const MIB = 1024 * 1024;
/** x86_64 user address space; larger guest memory can never be mmapped. */
const ADDRESS_SPACE = 2 ** 47;
const REBOOT_DELAY_MS = 5;
const BOOT_MARKER_DELAY_MS = 10;

function addressSpaceLimit(): number {
  try {
    const m = /^Max address space\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (m && m[1] !== 'unlimited') return Number(m[1]);
  } catch {
    /* not Linux */
  }
  return Infinity;
}

function hasRoot(spec: GuestSpec): boolean {
  const r = spec.resources;
  return r.drives.some((d) => d.is_root_device) || r.pmem.some((p) => p.root_device) || !!r.bootSource?.initrd_path;
}

/**
 * A guest that exists only as state: boots instantly once the kernel looks like an ELF
 * vmlinux, reboots on Ctrl+Alt+Del, panics (and with `panic=N` reboots) without a root device.
 */
export class SimulatedBackend implements GuestBackend {
  readonly name = 'simulated';
  private exitListener: ((code: number) => void) | undefined;
  private bootListener: (() => void) | undefined;
  private timers: NodeJS.Timeout[] = [];
  private paused = false;

  async start(spec: GuestSpec): Promise<void> {
    checkKernelImage(spec.resources.bootSource?.kernel_image_path ?? '');
    const bytes = spec.resources.machine.mem_size_mib * MIB;
    if (bytes > ADDRESS_SPACE || bytes > addressSpaceLimit()) {
      throw new BackendError(`Invalid Memory Configuration: Cannot create mmap region: ${ioErrorText({ code: 'ENOMEM' })}`);
    }
    this.later(BOOT_MARKER_DELAY_MS, () => this.bootListener?.());
    if (!hasRoot(spec)) {
      // The kernel panics on a missing root fs; with panic=N it resets after N s (behaviour.md#instance-start).
      const m = /(?:^|\s)panic=(\d+)/.exec(spec.cmdline);
      const secs = m ? Number(m[1]) : 0;
      if (secs > 0 && /(?:^|\s)reboot=/.test(spec.cmdline)) this.later(secs * 1000, () => this.exitListener?.(0));
    }
  }

  async pause(): Promise<void> {
    this.paused = true;
  }

  async resume(): Promise<void> {
    this.paused = false;
  }

  async sendCtrlAltDel(): Promise<void> {
    this.later(REBOOT_DELAY_MS, () => this.exitListener?.(0));
  }

  async snapshotCreate(req: SnapshotRequest): Promise<unknown> {
    const fd = openSync(req.memFilePath, constants.O_CREAT | constants.O_TRUNC | constants.O_WRONLY, 0o600);
    try {
      ftruncateSync(fd, req.memSizeMib * MIB);
    } finally {
      closeSync(fd);
    }
    return { simulated: true };
  }

  async restore(spec: RestoreSpec): Promise<void> {
    const expected = spec.resources.machine.mem_size_mib * MIB;
    if (spec.memory.kind === 'File') {
      let size: number;
      try {
        size = statSync(spec.memory.path).size;
      } catch (err) {
        throw new BackendError(`Failed to load guest memory: ${ioErrorText(err)}`);
      }
      if (size < expected) {
        throw new BackendError('Failed to load guest memory: Cannot create memory region from file: File too small');
      }
    } else {
      await this.handshakeUffd(spec.memory.path, expected);
    }
    this.paused = true;
  }

  onExit(listener: (exitCode: number) => void): void {
    this.exitListener = listener;
  }

  onBootMarker(listener: () => void): void {
    this.bootListener = listener;
  }

  dispose(): void {
    for (const t of this.timers) clearTimeout(t);
  }

  /** Sends the single UFFD setup message (without the fd, which Node cannot pass). */
  private handshakeUffd(path: string, size: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const sock = connect(path);
      sock.once('error', (err) =>
        reject(new BackendError(`Failed to load guest memory: Failed to connect to UDS Unix stream: ${ioErrorText(err)}`)),
      );
      sock.once('connect', () => {
        const regions = [{ base_host_virt_addr: 0, size, offset: 0, page_size: 4096, page_size_kib: 4096 }];
        sock.end(JSON.stringify(regions), () => resolve());
      });
    });
  }

  private later(ms: number, fn: () => void): void {
    const tick = (): void => {
      if (this.paused) {
        this.timers.push(setTimeout(tick, 5));
        return;
      }
      fn();
    };
    this.timers.push(setTimeout(tick, ms));
  }
}
