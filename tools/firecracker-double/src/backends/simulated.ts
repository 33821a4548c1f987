import { closeSync, constants, ftruncateSync, openSync, readSync, statSync, writeSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { ioErrorText } from '../errno.js';
import { checkKernelImage } from './kernel.js';
import { openSerialOut } from './qemu-process.js';
import { SimulatedShell } from './simulated-shell.js';
import type { GuestBackend, GuestSpec, RestoreSpec, SnapshotRequest } from './types.js';
import { BackendError } from './types.js';

const MIB = 1024 * 1024;
const PAGE_BYTES = 4096;
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

/** Writes guest console output to `serial_out_path`, or to the process's stdout without one. */
function writeSerial(spec: GuestSpec, text: string): void {
  const path = spec.resources.serial?.serial_out_path ?? null;
  const fd = path === null ? 1 : openSerialOut(path);
  try {
    writeSync(fd, text);
  } catch {
    // A full FIFO or a closed stdout drops console bytes, as the UART does; the guest goes on.
  } finally {
    if (path !== null) closeSync(fd);
  }
}

function hasRoot(spec: GuestSpec): boolean {
  const r = spec.resources;
  return r.drives.some((d) => d.is_root_device) || r.pmem.some((p) => p.root_device) || !!r.bootSource?.initrd_path;
}

/** True when the guest kernel's console is the serial port: without it the UART stays silent. */
function isSerialConsole(cmdline: string): boolean {
  return /(?:^|\s)console=ttyS0(?:[,\s]|$)/.test(cmdline);
}

/**
 * What a simulated guest's kernel prints on its serial console: a short boot log ending in a login
 * prompt, or in the panic a missing root device causes.
 */
export function simulatedBootLog(spec: GuestSpec): string {
  const lines = [
    'Linux version 6.1.0-simulated (firecracker-double) #1 SMP',
    `Command line: ${spec.cmdline}`,
    `Memory: ${spec.resources.machine.mem_size_mib * 1024}K available`,
    `smpboot: Allowing ${spec.resources.machine.vcpu_count} CPUs`,
    'Serial: 8250/16550 driver, 1 ports, IRQ sharing disabled',
    'serial8250: ttyS0 at I/O 0x3f8 (irq = 4, base_baud = 115200) is a U6_16550A',
  ];
  if (hasRoot(spec)) {
    lines.push(
      'VFS: Mounted root (ext4 filesystem) on device 254:0.',
      'Run /sbin/init as init process',
      '',
      `${spec.instanceId} login: `,
    );
  } else {
    lines.push(
      'VFS: Cannot open root device "(null)" or unknown-block(0,0): error -6',
      'Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)',
    );
  }
  return lines.join('\r\n');
}

/** The UART's receive side: Firecracker reads it from its stdin (behaviour.md#serial-input). */
export type SerialInput = Pick<NodeJS.ReadableStream, 'on' | 'off' | 'pause' | 'resume'>;

/**
 * What a simulated guest writes to its memory each time it starts running (boot, resume): one
 * page, its run counter. Enough for snapshots to have content that changes between them.
 */
function runPage(run: number): Buffer {
  const page = Buffer.alloc(PAGE_BYTES);
  page.write(`simulated guest memory, run ${run}\n`);
  return page;
}

/**
 * A guest that exists only as state: boots instantly once the kernel looks like an ELF
 * vmlinux, reboots on Ctrl+Alt+Del, panics (and with `panic=N` reboots) without a root device.
 * Bytes on its serial input go to a simulated login prompt and shell (`simulated-shell.ts`).
 */
export class SimulatedBackend implements GuestBackend {
  readonly name = 'simulated';
  private exitListener: ((code: number) => void) | undefined;
  private bootListener: (() => void) | undefined;
  private timers: NodeJS.Timeout[] = [];
  private paused = false;
  /** Pages the guest has written (resident), and those written since the last snapshot (dirty). */
  private readonly pages = new Map<number, Buffer>();
  private readonly dirty = new Set<number>();
  private runs = 0;
  private input: { readonly stream: SerialInput; readonly onData: (chunk: Buffer) => void } | undefined;

  /** `serialInput` is the process's stdin unless a test gives another stream. */
  constructor(private readonly serialInput: () => SerialInput = () => process.stdin) {}

  async start(spec: GuestSpec): Promise<void> {
    checkKernelImage(spec.resources.bootSource?.kernel_image_path ?? '');
    const bytes = spec.resources.machine.mem_size_mib * MIB;
    if (bytes > ADDRESS_SPACE || bytes > addressSpaceLimit()) {
      throw new BackendError(`Invalid Memory Configuration: Cannot create mmap region: ${ioErrorText({ code: 'ENOMEM' })}`);
    }
    if (isSerialConsole(spec.cmdline)) writeSerial(spec, simulatedBootLog(spec));
    this.run();
    this.readSerialInput(spec);
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
    // A paused guest reads nothing: typed bytes wait in the pipe until it resumes.
    this.input?.stream.pause();
  }

  async resume(): Promise<void> {
    this.paused = false;
    this.run();
    this.input?.stream.resume();
  }

  async sendCtrlAltDel(): Promise<void> {
    this.later(REBOOT_DELAY_MS, () => this.exitListener?.(0));
  }

  /**
   * Full: every page the guest wrote (the rest of the file is zeros, left as holes). Diff: with
   * dirty-page tracking only the pages written since the last snapshot, without it every resident
   * page (upstream's mincore); holes elsewhere. Either resets the dirty set.
   */
  async snapshotCreate(req: SnapshotRequest): Promise<unknown> {
    const written = req.snapshotType === 'Diff' && req.trackDirtyPages ? [...this.dirty] : [...this.pages.keys()];
    const fd = openSync(req.memFilePath, constants.O_CREAT | constants.O_TRUNC | constants.O_WRONLY, 0o600);
    try {
      ftruncateSync(fd, req.memSizeMib * MIB);
      for (const index of written) {
        const page = this.pages.get(index);
        if (page !== undefined && (index + 1) * PAGE_BYTES <= req.memSizeMib * MIB)
          writeSync(fd, page, 0, PAGE_BYTES, index * PAGE_BYTES);
      }
    } finally {
      closeSync(fd);
    }
    this.dirty.clear();
    return { simulated: true, runs: this.runs };
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
      this.loadRunPage(spec.memory.path);
    } else {
      await this.handshakeUffd(spec.memory.path, expected);
    }
    this.paused = true;
    this.readSerialInput(spec);
  }

  /** The guest writes its run page each time it starts running. */
  private run(): void {
    this.runs += 1;
    this.pages.set(0, runPage(this.runs));
    this.dirty.add(0);
  }

  /** A restored guest's memory is the file's: its run page (when the file holds one) and run counter. */
  private loadRunPage(path: string): void {
    const page = Buffer.alloc(PAGE_BYTES);
    const fd = openSync(path, constants.O_RDONLY);
    try {
      readSync(fd, page, 0, PAGE_BYTES, 0);
    } finally {
      closeSync(fd);
    }
    const m = /^simulated guest memory, run (\d+)\n/.exec(page.toString('latin1'));
    if (m === null) return;
    this.runs = Number(m[1]);
    this.pages.set(0, page);
  }

  onExit(listener: (exitCode: number) => void): void {
    this.exitListener = listener;
  }

  onBootMarker(listener: () => void): void {
    this.bootListener = listener;
  }

  dispose(): void {
    for (const t of this.timers) clearTimeout(t);
    if (this.input !== undefined) this.input.stream.off('data', this.input.onData);
    this.input = undefined;
  }

  /**
   * Reads the serial input for as long as the guest runs. With the console on ttyS0 and a root
   * device, a simulated getty answers; otherwise the UART receives the bytes and nobody reads them.
   */
  private readSerialInput(spec: GuestSpec): void {
    if (this.input !== undefined) return;
    const shell =
      isSerialConsole(spec.cmdline) && hasRoot(spec)
        ? new SimulatedShell({ hostname: spec.instanceId, cmdline: spec.cmdline, write: (text) => writeSerial(spec, text) })
        : undefined;
    const stream = this.serialInput();
    const onData = (chunk: Buffer): void => shell?.input(chunk);
    stream.on('data', onData);
    // A closed or unreadable stdin is a UART nobody types into.
    stream.on('error', () => undefined);
    if (this.paused) stream.pause();
    this.input = { stream, onData };
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
