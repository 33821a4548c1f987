import { describe, expect, it } from 'vitest';
import { parsePrometheusText, sampleValue } from '@hearth/testkit';
import { createFakeAgent, type FakeAgent } from '../../adapters/fake/fake-agent-context.js';
import { testSpec, testVmId } from '../../adapters/fake/fake-fixtures.js';
import { FakeMetricsFifos } from '../../adapters/fake/fake-metrics-fifos.js';
import { FakeTimers } from '../../adapters/fake/fake-timers.js';
import { PromAgentMetrics } from '../../adapters/metrics/prom-agent-metrics.js';
import { applyVm } from '../use-cases/apply-vm.js';
import { deleteVm } from '../use-cases/delete-vm.js';
import { stopVm } from '../use-cases/stop-vm.js';
import { VmFirecrackerMetrics } from './vm-firecracker-metrics.js';

const vm = { vm_id: testVmId };

function line(fields: Record<string, Record<string, number>>): string {
  return `${JSON.stringify({ utc_timestamp_ms: 1, ...fields })}\n`;
}

interface Setup {
  readonly agent: FakeAgent;
  readonly fifos: FakeMetricsFifos;
  readonly timers: FakeTimers;
  readonly prom: PromAgentMetrics;
  readonly metrics: VmFirecrackerMetrics;
  /** What the VMM writes into its FIFO when asked to flush (nothing: it answers but writes no line). */
  onFlush: string | undefined;
  flushes: number;
}

function setup(): Setup {
  const agent = createFakeAgent();
  const fifos = new FakeMetricsFifos();
  const timers = new FakeTimers();
  const prom = new PromAgentMetrics({ isProcessCollected: false });
  const state: Setup = {
    agent,
    fifos,
    timers,
    prom,
    onFlush: undefined,
    flushes: 0,
    metrics: new VmFirecrackerMetrics(
      {
        records: agent.records,
        // The VMM writes its line into its FIFO before it answers, as Firecracker does.
        firecracker: {
          client: (socketPath) => ({
            flushMetrics: async () => {
              await agent.firecracker.client(socketPath).flushMetrics();
              state.flushes += 1;
              const record = (await agent.records.list()).find((r) => r.socketPath === socketPath);
              if (state.onFlush !== undefined && record?.fifoPath != null) fifos.write(record.fifoPath, state.onFlush);
            },
          }),
        },
        fifos,
        counters: prom,
        timers,
        log: agent.log,
      },
      { flushWaitMs: 1_000, syncIntervalMs: 5_000 },
    ),
  };
  return state;
}

async function scrape(prom: PromAgentMetrics) {
  return parsePrometheusText(await prom.registry.metrics());
}

describe("a VM's Firecracker counters", () => {
  it("are read from the VM's metrics FIFO and add up each line's deltas, labelled by VM id", async () => {
    const s = setup();
    await applyVm(s.agent.context, testVmId, testSpec);
    await s.metrics.sync();
    const fifoPath = (await s.agent.records.get(testVmId))!.fifoPath!;
    expect(s.fifos.openPaths).toEqual([fifoPath]);

    s.fifos.write(fifoPath, line({ net: { rx_bytes_count: 100, tx_packets_count: 1 } }));
    s.fifos.write(fifoPath, line({ net: { rx_bytes_count: 50 } }));

    const families = await scrape(s.prom);
    expect(sampleValue(families, 'hearth_vm_net_bytes_total', { ...vm, direction: 'rx' })).toBe(150);
    expect(sampleValue(families, 'hearth_vm_net_packets_total', { ...vm, direction: 'tx' })).toBe(1);
    expect(sampleValue(families, 'hearth_vm_block_bytes_total', { ...vm, operation: 'read' })).toBe(0);
  });

  it('are brought up to now on refresh: each running VMM flushes, and its line is waited for', async () => {
    const s = setup();
    await applyVm(s.agent.context, testVmId, testSpec);
    s.onFlush = line({ put_api_requests: { actions_count: 1, metrics_count: 1 } });

    await s.metrics.refresh();

    expect(s.flushes).toBe(1);
    expect(sampleValue(await scrape(s.prom), 'hearth_vm_firecracker_api_requests_total', { ...vm, method: 'put' })).toBe(2);
  });

  it('are refreshed without waiting longer than flushWaitMs for a line that does not come', async () => {
    const s = setup();
    await applyVm(s.agent.context, testVmId, testSpec);
    const refreshed = s.metrics.refresh();
    // The sync and the flush run first; then only the wait's timer is left.
    await untilWaitTimerSet(s.timers);
    expect(s.timers.runNext()).toBe(1_000);
    await refreshed;
    expect((await scrape(s.prom)).get('hearth_vm_net_bytes_total')?.samples).toEqual([]);
  });

  it('keep counting across a VMM restart, from a new reader of the new FIFO', async () => {
    const s = setup();
    await applyVm(s.agent.context, testVmId, testSpec);
    await s.metrics.sync();
    s.fifos.write((await s.agent.records.get(testVmId))!.fifoPath!, line({ block: { write_bytes: 10 } }));
    await stopVm(s.agent.context, testVmId);
    await s.metrics.sync();
    expect(s.fifos.openPaths).toEqual([]);

    await applyVm(s.agent.context, testVmId, testSpec);
    await s.metrics.sync();
    s.fifos.write((await s.agent.records.get(testVmId))!.fifoPath!, line({ block: { write_bytes: 5 } }));

    expect(sampleValue(await scrape(s.prom), 'hearth_vm_block_bytes_total', { ...vm, operation: 'write' })).toBe(15);
  });

  it('vanish once the VM is deleted', async () => {
    const s = setup();
    await applyVm(s.agent.context, testVmId, testSpec);
    await s.metrics.sync();
    s.fifos.write((await s.agent.records.get(testVmId))!.fifoPath!, line({ net: { tx_bytes_count: 7 } }));
    expect(sampleValue(await scrape(s.prom), 'hearth_vm_net_bytes_total', { ...vm, direction: 'tx' })).toBe(7);

    await deleteVm(s.agent.context, testVmId);
    await s.metrics.sync();

    const families = await scrape(s.prom);
    expect(s.fifos.openPaths).toEqual([]);
    for (const family of families.values()) expect(family.samples.filter((x) => x.labels['vm_id'] === testVmId)).toEqual([]);
  });

  it('are not read for a VM created without metrics', async () => {
    const s = setup();
    await applyVm(s.agent.context, testVmId, { ...testSpec, isMetricsEnabled: false });
    await s.metrics.refresh();
    expect(s.fifos.openPaths).toEqual([]);
    expect(s.flushes).toBe(0);
  });

  it('count the lines the VMM wrote before the Agent started reading', async () => {
    const s = setup();
    await applyVm(s.agent.context, testVmId, testSpec);
    s.fifos.write((await s.agent.records.get(testVmId))!.fifoPath!, line({ net: { rx_bytes_count: 64 } }));
    await s.metrics.sync();
    expect(sampleValue(await scrape(s.prom), 'hearth_vm_net_bytes_total', { ...vm, direction: 'rx' })).toBe(64);
  });

  it('skip a line that is not a metrics line, and still read the next', async () => {
    const s = setup();
    await applyVm(s.agent.context, testVmId, testSpec);
    await s.metrics.sync();
    const fifoPath = (await s.agent.records.get(testVmId))!.fifoPath!;
    s.fifos.write(fifoPath, 'garbage\n');
    s.fifos.write(fifoPath, line({ net: { rx_packets_count: 3 } }));
    expect(sampleValue(await scrape(s.prom), 'hearth_vm_net_packets_total', { ...vm, direction: 'rx' })).toBe(3);
  });
});

/** Lets the refresh's awaits run until it has set its wait's timer. */
async function untilWaitTimerSet(timers: FakeTimers): Promise<void> {
  for (let i = 0; i < 100 && timers.pendingDelaysMs.length === 0; i += 1) await Promise.resolve();
  expect(timers.pendingDelaysMs).toEqual([1_000]);
}
