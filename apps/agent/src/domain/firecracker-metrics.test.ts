import { describe, expect, it } from 'vitest';
import { counterIncrements, firecrackerCounters } from './firecracker-metrics.js';

function incrementOf(increments: readonly number[] | undefined, metric: string, labels: Record<string, string> = {}): number {
  const index = firecrackerCounters.findIndex((c) => c.metric === metric && JSON.stringify(c.labels) === JSON.stringify(labels));
  expect(index).toBeGreaterThanOrEqual(0);
  return increments![index]!;
}

describe('counterIncrements', () => {
  it("takes each kept counter from its section and field of Firecracker's line", () => {
    const line = JSON.stringify({
      utc_timestamp_ms: 1,
      net: { rx_bytes_count: 1500, tx_bytes_count: 300, rx_packets_count: 2, tx_fails: 1 },
      net_eth0: { rx_bytes_count: 1500 },
      block: { read_bytes: 4096, write_count: 3 },
      vcpu: { exit_mmio_write: 7, exit_io_in_agg: { min_us: 1, max_us: 2, sum_us: 3 } },
      uart: { write_count: 42 },
      logger: { missed_metrics_count: 2 },
    });
    const increments = counterIncrements(line);
    expect(increments).toHaveLength(firecrackerCounters.length);
    expect(incrementOf(increments, 'hearth_vm_net_bytes_total', { direction: 'rx' })).toBe(1500);
    expect(incrementOf(increments, 'hearth_vm_net_bytes_total', { direction: 'tx' })).toBe(300);
    expect(incrementOf(increments, 'hearth_vm_net_errors_total', { direction: 'tx' })).toBe(1);
    expect(incrementOf(increments, 'hearth_vm_block_bytes_total', { operation: 'read' })).toBe(4096);
    expect(incrementOf(increments, 'hearth_vm_block_operations_total', { operation: 'write' })).toBe(3);
    expect(incrementOf(increments, 'hearth_vm_vcpu_exits_total', { kind: 'mmio_write' })).toBe(7);
    expect(incrementOf(increments, 'hearth_vm_vcpu_exits_total', { kind: 'io_in' })).toBe(0);
    expect(incrementOf(increments, 'hearth_vm_serial_writes_total')).toBe(42);
    expect(incrementOf(increments, 'hearth_vm_metrics_missed_total', { source: 'firecracker' })).toBe(2);
  });

  it('adds up the fields a pattern names, and counts nothing negative or not a number', () => {
    const line = JSON.stringify({
      utc_timestamp_ms: 1,
      put_api_requests: { actions_count: 2, drive_count: 1, drive_fails: 1, metrics_count: -5, logger_count: 'x' },
      signals: { sigbus: 1, sigsegv: 2 },
    });
    const increments = counterIncrements(line);
    expect(incrementOf(increments, 'hearth_vm_firecracker_api_requests_total', { method: 'put' })).toBe(3);
    expect(incrementOf(increments, 'hearth_vm_firecracker_api_failures_total', { method: 'put' })).toBe(1);
    expect(incrementOf(increments, 'hearth_vm_faults_total', { kind: 'signal' })).toBe(3);
  });

  it.each([['not json'], ['[1,2]'], ['{"net":{}}'], ['{"utc_timestamp_ms":1,"net":{"rx_bytes_count":']])(
    'reads %s as no metrics line',
    (line) => {
      expect(counterIncrements(line)).toBeUndefined();
    },
  );
});
