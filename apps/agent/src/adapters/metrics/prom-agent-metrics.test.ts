import perfHooks from 'node:perf_hooks';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parsePrometheusText, sampleValue } from '@hearth/testkit';
import { firecrackerCounters } from '../../domain/firecracker-metrics.js';
import type { VmId } from '../../domain/vm-id.js';
import { agentEventLoopSampleIntervalMs, PromAgentMetrics } from './prom-agent-metrics.js';

const vmA = 'vm_aaaaaaaaaaaaaaaaaaaaaaaaaa' as VmId;
const vmB = 'vm_bbbbbbbbbbbbbbbbbbbbbbbbbb' as VmId;

/** Increments for every counter: `value` at `index`, 0 elsewhere. */
function increments(index: number, value: number): number[] {
  return firecrackerCounters.map((_, i) => (i === index ? value : 0));
}

describe('PromAgentMetrics', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("samples the event loop's delay ten times a second, not a hundred", () => {
    const monitor = vi.spyOn(perfHooks, 'monitorEventLoopDelay');
    const metrics = new PromAgentMetrics();
    expect(agentEventLoopSampleIntervalMs).toBe(100);
    expect(monitor).toHaveBeenCalledWith({ resolution: 100 });
    expect(metrics.registry.getSingleMetric('nodejs_eventloop_lag_p99_seconds')).toBeDefined();
  });

  it("shows each VM's counters, summed over its lines, in the text format as prom-client writes counters", async () => {
    const metrics = new PromAgentMetrics({ isProcessCollected: false });
    const rx = firecrackerCounters.findIndex((c) => c.metric === 'hearth_vm_net_bytes_total' && c.labels['direction'] === 'rx');
    const serial = firecrackerCounters.findIndex((c) => c.metric === 'hearth_vm_serial_writes_total');
    metrics.add(vmA, increments(rx, 100));
    metrics.add(vmA, increments(rx, 23));
    metrics.add(vmB, increments(serial, 7));

    const text = await metrics.registry.metrics();
    expect(text).toContain(
      "# HELP hearth_vm_net_bytes_total Bytes through the VM's network interfaces, by direction (rx: to the guest)\n" +
        '# TYPE hearth_vm_net_bytes_total counter\n' +
        `hearth_vm_net_bytes_total{direction="rx",vm_id="${vmA}"} 123\n` +
        `hearth_vm_net_bytes_total{direction="tx",vm_id="${vmA}"} 0\n` +
        `hearth_vm_net_bytes_total{direction="rx",vm_id="${vmB}"} 0\n`,
    );
    expect(text).toContain(`hearth_vm_serial_writes_total{vm_id="${vmB}"} 7\n`);
    const families = parsePrometheusText(text);
    // Every counter of both VMs, from their first line.
    const series = [...families.values()].filter((f) => f.name.startsWith('hearth_vm_')).flatMap((f) => f.samples);
    expect(series).toHaveLength(2 * firecrackerCounters.length);
    expect(sampleValue(families, 'hearth_vm_net_bytes_total', { direction: 'rx', vm_id: vmA })).toBe(123);
    expect(sampleValue(families, 'hearth_vm_serial_writes_total', { vm_id: vmA })).toBe(0);
  });

  it("forgets a removed VM's series and keeps the others'", async () => {
    const metrics = new PromAgentMetrics({ isProcessCollected: false });
    metrics.add(vmA, increments(0, 1));
    metrics.add(vmB, increments(0, 2));
    metrics.remove(vmA);
    metrics.remove(vmA);

    const families = parsePrometheusText(await metrics.registry.metrics());
    const series = [...families.values()].filter((f) => f.name.startsWith('hearth_vm_')).flatMap((f) => f.samples);
    expect(series).toHaveLength(firecrackerCounters.length);
    expect(series.every((s) => s.labels['vm_id'] === vmB)).toBe(true);
    expect(families.get(firecrackerCounters[0]!.metric)?.samples[0]?.value).toBe(2);
  });
});
