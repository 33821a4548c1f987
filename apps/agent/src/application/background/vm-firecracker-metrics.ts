import { counterIncrements } from '../../domain/firecracker-metrics.js';
import type { VmId } from '../../domain/vm-id.js';
import type { VmRecord } from '../../domain/vm-record.js';
import type { AgentLog } from '../ports/agent-log.js';
import type { FirecrackerClient } from '../ports/firecracker-api.js';
import type { MetricsFifoReader, MetricsFifos } from '../ports/metrics-fifos.js';
import type { TimerHandle, Timers } from '../ports/timers.js';
import type { VmCounterSink } from '../ports/vm-counter-sink.js';
import type { VmRecordStore } from '../ports/vm-record-store.js';

export interface VmFirecrackerMetricsDependencies {
  readonly records: Pick<VmRecordStore, 'list'>;
  readonly firecracker: { client(socketPath: string): Pick<FirecrackerClient, 'flushMetrics'> };
  readonly fifos: MetricsFifos;
  readonly counters: VmCounterSink;
  readonly timers: Timers;
  readonly log: AgentLog;
}

export interface VmFirecrackerMetricsSettings {
  /** How long a refresh waits for the line a `FlushMetrics` asked for. */
  readonly flushWaitMs: number;
  /** How often the readers are matched to the VMs without a scrape asking. */
  readonly syncIntervalMs: number;
}

/** One VMM's metrics FIFO being read, and the lines read from it so far. */
interface FifoWatch {
  /** Which VMM process and FIFO it reads: another process (a restart) needs another reader. */
  readonly key: string;
  readonly socketPath: string;
  readonly reader: MetricsFifoReader;
  lines: number;
  isClosed: boolean;
  readonly waiters: Set<() => void>;
}

/** What a reader must follow for the record, or undefined when its VMM writes no metrics now. */
function watchKeyOf(record: VmRecord): string | undefined {
  const { process, fifoPath, socketPath } = record;
  if (process === null || !process.isMetricsConfigured || fifoPath === null || socketPath === null) return undefined;
  return `${process.pid}:${process.startTime}:${fifoPath}`;
}

/**
 * Keeps each VM's Firecracker counters: reads the metrics FIFO of every VMM that writes one, adds
 * each line's deltas to the VM's counters (so they survive VMM restarts), and drops the VM's series
 * once its record is gone. Level-triggered: `sync` matches the readers to the records, on a timer
 * and before every refresh; a refresh (each scrape) asks every VMM to flush, so that a scrape sees
 * what happened up to now rather than up to Firecracker's last 60-second flush.
 */
export class VmFirecrackerMetrics {
  private readonly watches = new Map<VmId, FifoWatch>();
  private readonly counted = new Set<VmId>();
  private timer: TimerHandle | undefined;
  private isStopped = true;

  constructor(
    private readonly deps: VmFirecrackerMetricsDependencies,
    private readonly settings: VmFirecrackerMetricsSettings,
  ) {}

  start(): void {
    if (!this.isStopped) return;
    this.isStopped = false;
    this.schedule();
  }

  /** Stops syncing and closes every reader (series are kept: the VMs still run). */
  stop(): void {
    this.isStopped = true;
    if (this.timer !== undefined) this.deps.timers.clearTimeout(this.timer);
    this.timer = undefined;
    for (const [vmId, watch] of this.watches) this.close(vmId, watch);
  }

  /** Opens a reader for each VMM writing metrics, closes those of VMMs gone, removes the series of VMs gone. */
  async sync(): Promise<void> {
    const records = await this.deps.records.list();
    const present = new Set<VmId>();
    for (const record of records) {
      present.add(record.vmId);
      const key = watchKeyOf(record);
      const watch = this.watches.get(record.vmId);
      if (watch !== undefined && watch.key !== key) this.close(record.vmId, watch);
      if (key !== undefined && !this.watches.has(record.vmId)) this.open(record, key);
    }
    for (const [vmId, watch] of this.watches) if (!present.has(vmId)) this.close(vmId, watch);
    for (const vmId of this.counted) {
      if (present.has(vmId)) continue;
      this.deps.counters.remove(vmId);
      this.counted.delete(vmId);
    }
  }

  /** `sync`, then every VMM flushes its metrics and each line is waited for (at most `flushWaitMs`). */
  async refresh(): Promise<void> {
    await this.sync();
    await Promise.all(
      [...this.watches.values()].map(async (watch) => {
        const before = watch.lines;
        try {
          await this.deps.firecracker.client(watch.socketPath).flushMetrics();
        } catch {
          return; // not started yet, or stopping: its next line comes with its next flush
        }
        await this.lineAfter(watch, before);
      }),
    );
  }

  private open(record: VmRecord, key: string): void {
    const { vmId } = record;
    // The reader is made before its watch: lines that come at once are kept until the watch exists.
    const opened: { watch?: FifoWatch } = {};
    const early: string[] = [];
    let reader: MetricsFifoReader;
    try {
      reader = this.deps.fifos.open(record.fifoPath!, (line) => {
        if (opened.watch === undefined) early.push(line);
        else this.read(vmId, opened.watch, line);
      });
    } catch (error) {
      this.deps.log.warn({ vmId, err: error }, 'metrics fifo cannot be opened; will retry');
      return;
    }
    opened.watch = { key, socketPath: record.socketPath!, reader, lines: 0, isClosed: false, waiters: new Set() };
    this.watches.set(vmId, opened.watch);
    for (const line of early) this.read(vmId, opened.watch, line);
  }

  private read(vmId: VmId, watch: FifoWatch, line: string): void {
    if (watch.isClosed) return;
    const increments = counterIncrements(line);
    if (increments === undefined) {
      this.deps.log.debug({ vmId, length: line.length }, 'firecracker metrics line unreadable');
    } else {
      this.deps.counters.add(vmId, increments);
      this.counted.add(vmId);
    }
    watch.lines += 1;
    for (const wake of watch.waiters) wake();
  }

  private close(vmId: VmId, watch: FifoWatch): void {
    watch.reader.close();
    watch.isClosed = true;
    this.watches.delete(vmId);
    for (const wake of watch.waiters) wake();
  }

  private lineAfter(watch: FifoWatch, before: number): Promise<void> {
    if (watch.lines > before) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        if (watch.lines <= before && !watch.isClosed) return;
        this.deps.timers.clearTimeout(timeout);
        watch.waiters.delete(done);
        resolve();
      };
      const timeout = this.deps.timers.setTimeout(() => {
        watch.waiters.delete(done);
        resolve();
      }, this.settings.flushWaitMs);
      watch.waiters.add(done);
    });
  }

  private schedule(): void {
    if (this.isStopped) return;
    this.timer = this.deps.timers.setTimeout(() => {
      this.sync()
        .catch((error: unknown) => this.deps.log.warn({ err: error }, 'vm metrics sync failed'))
        .finally(() => this.schedule());
    }, this.settings.syncIntervalMs);
  }
}
