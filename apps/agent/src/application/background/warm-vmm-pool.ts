import { posix } from 'node:path';
import { pathsIn, vmmPoolDirectory } from '../../domain/vm-paths.js';
import type { AgentLog } from '../ports/agent-log.js';
import type { Clock } from '../ports/clock.js';
import type { FirecrackerApi } from '../ports/firecracker-api.js';
import type { HostFiles } from '../ports/host-files.js';
import type { TimerHandle, Timers } from '../ports/timers.js';
import type { Vmm, VmmProcessRef } from '../ports/vmm.js';
import type { VmmPool, WarmVmm } from '../ports/vmm-pool.js';

export interface WarmVmmPoolDependencies {
  readonly vmm: Vmm;
  readonly firecracker: FirecrackerApi;
  readonly files: HostFiles;
  readonly clock: Clock;
  readonly timers: Timers;
  readonly log: AgentLog;
  /** A fresh name for a warm VMM's directory (letters and digits). */
  readonly newSlotId: () => string;
}

export interface WarmVmmPoolSettings {
  readonly runDir: string;
  /** How many VMMs are kept idle. */
  readonly size: number;
  /**
   * The niceness a warm VMM starts at until a VM takes it (its threads then run at 0, as every
   * VMM's), or null to start it at the Agent's own: an Agent that may not raise a process's priority
   * back (it is not root) must not lower it.
   */
  readonly niceness: number | null;
  /** How long a VMM may take to answer its API once started. */
  readonly readyTimeoutMs: number;
  /** After a VMM could not be started, the wait before the next try; doubled at each failure in a row up to `maxRetryMs`. */
  readonly retryMs: number;
  readonly maxRetryMs: number;
  /** After a take, how long without another before the pool starts the replacements. */
  readonly refillDelayMs: number;
}

/**
 * Keeps `size` Firecracker processes started, unconfigured, each answering its API in a directory
 * of its own under `vmm-pool/` (named as a VM's files are, so that the directory can become a VM's),
 * so that a VM restored from a snapshot does not wait for a process to start: a clone's VMM is ready
 * when its request arrives, and ten clones at once do not start ten processes at once. The VMMs
 * taken are replaced once takes pause (`refillDelayMs`), at a low priority (`niceness`), so that
 * neither a burst of restores nor the VMs running share the cores with their replacements.
 *
 * Idle VMMs are host resources of the Agent: `close` stops them and removes their directories, and
 * after a crash the sweep at the next start removes them (no record names them).
 */
export class WarmVmmPool implements VmmPool {
  private readonly idle: WarmVmm[] = [];
  private readonly starts = new Set<Promise<void>>();
  private failuresInARow = 0;
  private retry: TimerHandle | null = null;
  private refill: TimerHandle | null = null;
  private isClosed = false;

  constructor(
    private readonly dependencies: WarmVmmPoolDependencies,
    private readonly settings: WarmVmmPoolSettings,
  ) {}

  /** The VMMs idle now (ready to be taken). */
  get idleCount(): number {
    return this.idle.length;
  }

  /** Starts VMMs until `size` are idle or starting (none while a retry waits, or once closed). */
  fill(): void {
    if (this.isClosed || this.retry !== null) return;
    while (this.idle.length + this.starts.size < this.settings.size) {
      const start: Promise<void> = this.startOne().finally(() => this.starts.delete(start));
      this.starts.add(start);
    }
  }

  /** Resolves once no VMM is starting (the ones started meanwhile included). */
  async settled(): Promise<void> {
    while (this.starts.size > 0) await Promise.allSettled([...this.starts]);
  }

  async take(vmId: string): Promise<WarmVmm | undefined> {
    const { files, log, vmm } = this.dependencies;
    try {
      for (let warm = this.idle.shift(); warm !== undefined; warm = this.idle.shift()) {
        // From here the VMM is the caller's, whatever happens to it.
        const isAlive = await vmm.isAlive(warm.process);
        if (isAlive && (this.settings.niceness === null || (await vmm.setNiceness(warm.process, 0)))) {
          log.info({ vmId, pid: warm.process.pid }, 'warm vmm taken');
          return warm;
        }
        log.warn({ pid: warm.process.pid, exit: vmm.exitOf(warm.process) }, 'warm vmm ended while idle');
        await files.removeDirectory(warm.directory);
      }
      return undefined;
    } finally {
      this.refillLater();
    }
  }

  async discard(warm: WarmVmm): Promise<void> {
    await this.stopAndRemove(warm);
  }

  /** Fills the pool once `refillDelayMs` has passed without a take: a burst of takes is not slowed by starting their replacements. */
  private refillLater(): void {
    if (this.isClosed) return;
    if (this.refill !== null) this.dependencies.timers.clearTimeout(this.refill);
    this.refill = this.dependencies.timers.setTimeout(() => {
      this.refill = null;
      this.fill();
    }, this.settings.refillDelayMs);
  }

  /** Stops every idle VMM and removes its directory, once the VMMs starting have started. */
  async close(): Promise<void> {
    this.isClosed = true;
    for (const timer of [this.retry, this.refill]) if (timer !== null) this.dependencies.timers.clearTimeout(timer);
    this.retry = null;
    this.refill = null;
    await this.settled();
    for (let warm = this.idle.shift(); warm !== undefined; warm = this.idle.shift()) await this.stopAndRemove(warm);
  }

  private async startOne(): Promise<void> {
    const { files, log, vmm } = this.dependencies;
    const slotId = this.dependencies.newSlotId();
    const directory = posix.join(vmmPoolDirectory(this.settings.runDir), slotId);
    const paths = pathsIn(directory);
    let process: VmmProcessRef | undefined;
    try {
      await files.makeDirectory(directory);
      await files.createFifo(paths.consoleFifo);
      process = await vmm.spawn({
        vmId: `warm-${slotId}`,
        instanceId: `warm-${slotId}`,
        socketPath: paths.socket,
        stdoutPath: paths.stdoutLog,
        stderrPath: paths.stderrLog,
        workingDirectory: directory,
        stdinPath: paths.consoleFifo,
        // A VM's log, at the level of every VM's: it becomes the VM's with the directory.
        sinks: { logger: { logPath: paths.firecrackerLog, level: 'Info' } },
        ...(this.settings.niceness === null ? {} : { niceness: this.settings.niceness }),
      });
      await this.waitUntilReady(process, paths.socket);
    } catch (error) {
      this.failuresInARow += 1;
      const retryMs = Math.min(this.settings.maxRetryMs, this.settings.retryMs * 2 ** (this.failuresInARow - 1));
      log.warn({ err: error, failuresInARow: this.failuresInARow, retryMs }, 'warm vmm could not be started');
      await this.stopAndRemove({ directory, process }).catch((cleanupError: unknown) => {
        log.error({ err: cleanupError, directory }, 'warm vmm that could not start could not be removed');
      });
      if (!this.isClosed && this.retry === null) {
        this.retry = this.dependencies.timers.setTimeout(() => {
          this.retry = null;
          this.fill();
        }, retryMs);
      }
      return;
    }
    this.failuresInARow = 0;
    if (this.isClosed) await this.stopAndRemove({ directory, process });
    else this.idle.push({ directory, process });
  }

  /** Waits until the VMM answers its API, not started; throws when it does not within the timeout. */
  private async waitUntilReady(process: VmmProcessRef, socketPath: string): Promise<void> {
    const { clock, firecracker, files, vmm } = this.dependencies;
    const deadline = clock.monotonicMs() + this.settings.readyTimeoutMs;
    const watch = files.watchPath(socketPath);
    try {
      for (let intervalMs = 5; ; intervalMs = Math.min(intervalMs * 2, 50)) {
        const remainingMs = deadline - clock.monotonicMs();
        if (remainingMs <= 0) throw new Error(`the VMM did not answer within ${this.settings.readyTimeoutMs} ms`);
        if (!(await vmm.isAlive(process))) throw new Error(`the VMM ended: ${JSON.stringify(vmm.exitOf(process) ?? null)}`);
        if (await watch.appeared(Math.min(remainingMs, 100))) {
          try {
            const { state } = await firecracker.client(socketPath).describeInstance();
            if (state !== 'Not started') throw new Error(`the VMM reports "${state}"`);
            return;
          } catch (error) {
            if (error instanceof Error && error.message.startsWith('the VMM reports')) throw error;
            // Bound but not listening yet: asked again.
          }
        }
        await clock.sleep(intervalMs);
      }
    } finally {
      watch.close();
      // Its connection is not kept under a name the VMM is about to leave.
      await firecracker.release(socketPath);
    }
  }

  private async stopAndRemove(warm: { readonly directory: string; readonly process: VmmProcessRef | undefined }): Promise<void> {
    if (warm.process !== undefined) await this.dependencies.vmm.stop(warm.process, this.settings.readyTimeoutMs);
    await this.dependencies.files.removeDirectory(warm.directory);
  }
}
