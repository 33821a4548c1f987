/**
 * The per-VM counters the Agent keeps from Firecracker's metrics, and where each comes from in
 * the JSON line Firecracker writes at each flush (every 60 s, on `FlushMetrics`, and when it
 * exits). Those fields are deltas: each line counts what happened since the previous line, so the
 * Agent adds them up into counters that survive a VMM restart. Only these fields are kept: the
 * line has hundreds, and every series is multiplied by the number of VMs.
 */
export interface FirecrackerCounter {
  /** The Prometheus metric, without the VM id label every series carries. */
  readonly metric: string;
  readonly help: string;
  /** Fixed labels of this series (besides `vm_id`). */
  readonly labels: Readonly<Record<string, string>>;
  /** The section (`net`, `block`, …) and field in Firecracker's line. */
  readonly section: string;
  readonly field: string;
}

type Family = Omit<FirecrackerCounter, 'labels' | 'section' | 'field'> & {
  /** The label telling the family's series apart; '' for a family of one series. */
  readonly label: string;
  readonly sources: readonly (readonly [labelValue: string, section: string, field: string])[];
};

const families: readonly Family[] = [
  {
    metric: 'hearth_vm_net_bytes_total',
    help: "Bytes through the VM's network interfaces, by direction (rx: to the guest)",
    label: 'direction',
    sources: [
      ['rx', 'net', 'rx_bytes_count'],
      ['tx', 'net', 'tx_bytes_count'],
    ],
  },
  {
    metric: 'hearth_vm_net_packets_total',
    help: "Packets through the VM's network interfaces, by direction",
    label: 'direction',
    sources: [
      ['rx', 'net', 'rx_packets_count'],
      ['tx', 'net', 'tx_packets_count'],
    ],
  },
  {
    metric: 'hearth_vm_net_errors_total',
    help: 'Failed network reads and writes of the VM, by direction',
    label: 'direction',
    sources: [
      ['rx', 'net', 'rx_fails'],
      ['tx', 'net', 'tx_fails'],
    ],
  },
  {
    metric: 'hearth_vm_block_bytes_total',
    help: "Bytes read and written by the VM's block devices",
    label: 'operation',
    sources: [
      ['read', 'block', 'read_bytes'],
      ['write', 'block', 'write_bytes'],
    ],
  },
  {
    metric: 'hearth_vm_block_operations_total',
    help: "Reads and writes of the VM's block devices",
    label: 'operation',
    sources: [
      ['read', 'block', 'read_count'],
      ['write', 'block', 'write_count'],
    ],
  },
  {
    metric: 'hearth_vm_vcpu_exits_total',
    help: 'vCPU exits to the VMM, by kind',
    label: 'kind',
    sources: [
      ['io_in', 'vcpu', 'exit_io_in'],
      ['io_out', 'vcpu', 'exit_io_out'],
      ['mmio_read', 'vcpu', 'exit_mmio_read'],
      ['mmio_write', 'vcpu', 'exit_mmio_write'],
    ],
  },
  {
    metric: 'hearth_vm_firecracker_api_requests_total',
    help: "Requests to the VM's Firecracker API, by method (the Agent's own included)",
    label: 'method',
    sources: [
      ['get', 'get_api_requests', '*_count'],
      ['put', 'put_api_requests', '*_count'],
      ['patch', 'patch_api_requests', '*_count'],
    ],
  },
  {
    metric: 'hearth_vm_firecracker_api_failures_total',
    help: "Requests Firecracker's API refused, by method",
    label: 'method',
    sources: [
      ['put', 'put_api_requests', '*_fails'],
      ['patch', 'patch_api_requests', '*_fails'],
    ],
  },
  {
    metric: 'hearth_vm_serial_writes_total',
    help: 'Writes of the guest to its serial port (a byte each on the 8250 UART)',
    label: '',
    sources: [['', 'uart', 'write_count']],
  },
  {
    metric: 'hearth_vm_faults_total',
    help: 'Faults of the VMM: vCPU failures, panics, seccomp violations, fatal signals',
    label: 'kind',
    sources: [
      ['vcpu', 'vcpu', 'failures'],
      ['panic', 'vmm', 'panic_count'],
      ['seccomp', 'seccomp', 'num_faults'],
      ['signal', 'signals', '*'],
    ],
  },
  {
    metric: 'hearth_vm_metrics_missed_total',
    help: 'Metrics flushes Firecracker could not write (the Agent did not read fast enough)',
    label: 'source',
    sources: [['firecracker', 'logger', 'missed_metrics_count']],
  },
];

/** Every counter series kept per VM. */
export const firecrackerCounters: readonly FirecrackerCounter[] = families.flatMap((family) =>
  family.sources.map(([value, section, field]) => ({
    metric: family.metric,
    help: family.help,
    labels: family.label === '' ? {} : { [family.label]: value },
    section,
    field,
  })),
);

/** Each metric once, with its help and label names (besides `vm_id`). */
export const firecrackerCounterMetrics: readonly { readonly metric: string; readonly help: string; readonly label: string }[] =
  families.map(({ metric, help, label }) => ({ metric, help, label }));

function fieldValue(section: Record<string, unknown>, field: string): number {
  if (!field.includes('*')) {
    const value = section[field];
    return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : 0;
  }
  // `*_count` adds up every field of the section ending so (`*` alone: every field).
  const suffix = field.slice(1);
  let sum = 0;
  for (const [name, value] of Object.entries(section)) {
    if (name.endsWith(suffix) && typeof value === 'number' && Number.isFinite(value) && value > 0) sum += value;
  }
  return sum;
}

/**
 * The increments one metrics line carries, index for index with `firecrackerCounters`; undefined
 * when the line is not a metrics object (a partial line, say). Negative or non-numeric fields
 * count as nothing: a counter never goes down.
 */
export function counterIncrements(line: string): readonly number[] | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const sections = parsed as Record<string, unknown>;
  if (typeof sections['utc_timestamp_ms'] !== 'number') return undefined;
  return firecrackerCounters.map(({ section, field }) => {
    const found = sections[section];
    return typeof found === 'object' && found !== null && !Array.isArray(found)
      ? fieldValue(found as Record<string, unknown>, field)
      : 0;
  });
}
