import { createMetricsRegistry, type ProcessMetricsOptions, type Registry } from '@hearth/http-server';
import { Counter, Gauge } from 'prom-client';
import type { HostProbe } from '../../application/ports/host-probe.js';
import type { VmCounterSink } from '../../application/ports/vm-counter-sink.js';
import type { VmRecordStore } from '../../application/ports/vm-record-store.js';
import { firecrackerCounterMetrics, firecrackerCounters } from '../../domain/firecracker-metrics.js';
import type { VmId } from '../../domain/vm-id.js';
import type { VmLifecycle } from '../../domain/vm-record.js';

const lifecycles: readonly VmLifecycle[] = ['applying', 'running', 'failed', 'stopped'];
const bytesPerMib = 1024 * 1024;

/** How often the Agent samples its event loop's delay (`nodejs_eventloop_lag_*`). */
export const agentEventLoopSampleIntervalMs = 100;

/**
 * One metric of the per-VM Firecracker counters, read from the Agent's own per-VM counts when
 * scraped. prom-client's `inc` keeps a label object, its entry and a key string (the labels
 * joined, `direction:rx,vm_id:vm_…`) for every series: about 4.6 KB a VM for the 25 counters, 2.2 MiB
 * of live heap with 500 VMs, against 0.2 KB a VM for one array of 25 numbers (ADR 0113).
 */
class VmCounterMetric extends Counter {
  constructor(
    name: string,
    help: string,
    /** The label telling the metric's series apart; '' for a metric of one series a VM. */
    private readonly label: string,
    /** The indices of `firecrackerCounters` this metric shows, each with its label's value. */
    private readonly series: readonly { readonly index: number; readonly labelValue: string }[],
    private readonly counts: ReadonlyMap<VmId, Float64Array>,
    registry: Registry,
  ) {
    super({ name, help, labelNames: label === '' ? ['vm_id'] : [label, 'vm_id'], registers: [registry] });
  }

  override async get(): ReturnType<Counter['get']> {
    const metric = await super.get();
    const values: typeof metric.values = [];
    for (const [vmId, counts] of this.counts) {
      for (const { index, labelValue } of this.series) {
        values.push({
          value: counts[index]!,
          labels: this.label === '' ? { vm_id: vmId } : { [this.label]: labelValue, vm_id: vmId },
        });
      }
    }
    return { ...metric, values };
  }
}

/**
 * The Agent's Prometheus metrics (the catalog is docs/metrics.md): per-VM Firecracker counters
 * labelled by `vm_id` (a VM's series go when its record does, so their number stays that of the
 * VMs on the host), VM records by lifecycle, the host's CPUs and memory, and process metrics.
 */
export class PromAgentMetrics implements VmCounterSink {
  readonly registry: Registry;
  /** Each VM's Firecracker counters, index for index with `firecrackerCounters`. */
  private readonly counts = new Map<VmId, Float64Array>();

  constructor(options: Pick<ProcessMetricsOptions, 'isProcessCollected'> = { isProcessCollected: true }) {
    // The event loop's delay sampled 10 times a second, not 100: each sample wakes the Agent, and
    // 100 a second cost it about 4 ms of CPU a second, VMs or not (ADR 0093).
    this.registry = createMetricsRegistry({ ...options, eventLoopSampleIntervalMs: agentEventLoopSampleIntervalMs });
    for (const { metric, help, label } of firecrackerCounterMetrics) {
      const series = firecrackerCounters.flatMap((counter, index) =>
        counter.metric === metric ? [{ index, labelValue: label === '' ? '' : counter.labels[label]! }] : [],
      );
      new VmCounterMetric(metric, help, label, series, this.counts, this.registry);
    }
  }

  add(vmId: VmId, increments: readonly number[]): void {
    // The VM's counts are made at its first line, so that it shows every counter from then on.
    let counts = this.counts.get(vmId);
    if (counts === undefined) {
      counts = new Float64Array(firecrackerCounters.length);
      this.counts.set(vmId, counts);
    }
    for (let index = 0; index < counts.length; index++) counts[index] = counts[index]! + (increments[index] ?? 0);
  }

  remove(vmId: VmId): void {
    this.counts.delete(vmId);
  }

  /** VM records by lifecycle, read when scraped. */
  watchVms(records: Pick<VmRecordStore, 'list'>): void {
    new Gauge({
      name: 'hearth_agent_vms',
      help: 'VMs this Agent holds, by the lifecycle of their record',
      labelNames: ['lifecycle'] as const,
      registers: [this.registry],
      async collect() {
        const counts = new Map<VmLifecycle, number>();
        for (const record of await records.list()) counts.set(record.lifecycle, (counts.get(record.lifecycle) ?? 0) + 1);
        for (const lifecycle of lifecycles) this.set({ lifecycle }, counts.get(lifecycle) ?? 0);
      },
    });
  }

  /** The host's CPUs and memory, as the Agent reports them to the Manager, read when scraped. */
  watchHost(probe: Pick<HostProbe, 'resources'>): void {
    new Gauge({
      name: 'hearth_host_cpus',
      help: 'CPUs of the host that VMs may use',
      registers: [this.registry],
      async collect() {
        this.set((await probe.resources()).cpuCount);
      },
    });
    new Gauge({
      name: 'hearth_host_memory_total_bytes',
      help: 'Memory of the host',
      registers: [this.registry],
      async collect() {
        this.set((await probe.resources()).memoryMibTotal * bytesPerMib);
      },
    });
    new Gauge({
      name: 'hearth_host_memory_available_bytes',
      help: 'Memory of the host available for new VMs',
      registers: [this.registry],
      async collect() {
        this.set((await probe.resources()).memoryMibAvailable * bytesPerMib);
      },
    });
  }
}
