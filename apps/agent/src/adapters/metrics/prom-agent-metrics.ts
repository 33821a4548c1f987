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
 * The Agent's Prometheus metrics (the catalog is docs/metrics.md): per-VM Firecracker counters
 * labelled by `vm_id` (a VM's series go when its record does, so their number stays that of the
 * VMs on the host), VM records by lifecycle, the host's CPUs and memory, and process metrics.
 */
export class PromAgentMetrics implements VmCounterSink {
  readonly registry: Registry;
  /** Per entry of `firecrackerCounters`: its counter and fixed labels. */
  private readonly series: readonly { readonly counter: Counter; readonly labels: Readonly<Record<string, string>> }[];

  constructor(options: Pick<ProcessMetricsOptions, 'isProcessCollected'> = { isProcessCollected: true }) {
    // The event loop's delay sampled 10 times a second, not 100: each sample wakes the Agent, and
    // 100 a second cost it about 4 ms of CPU a second, VMs or not (ADR 0093).
    this.registry = createMetricsRegistry({ ...options, eventLoopSampleIntervalMs: agentEventLoopSampleIntervalMs });
    const counters = new Map<string, Counter>();
    for (const { metric, help, label } of firecrackerCounterMetrics) {
      counters.set(
        metric,
        new Counter({ name: metric, help, labelNames: label === '' ? ['vm_id'] : ['vm_id', label], registers: [this.registry] }),
      );
    }
    this.series = firecrackerCounters.map(({ metric, labels }) => ({ counter: counters.get(metric)!, labels }));
  }

  add(vmId: VmId, increments: readonly number[]): void {
    increments.forEach((increment, index) => {
      const { counter, labels } = this.series[index]!;
      // An increment of 0 still makes the series, so that a VM shows every counter from its first line.
      counter.inc({ ...labels, vm_id: vmId }, increment);
    });
  }

  remove(vmId: VmId): void {
    for (const { counter, labels } of this.series) counter.remove({ ...labels, vm_id: vmId });
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
