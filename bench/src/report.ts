import type { MachineFacts } from './machine.js';
import type { BenchOptions } from './options.js';
import { cpuGroups } from './cpu.js';
import { floorStepOrder, type EventResult, type LatencyResult, type ListResult, type WaveResult } from './phases.js';
import type { QemuResult } from './qemu-boot.js';
import { ratio, round, type Summary } from './stats.js';

export interface BenchResults {
  readonly machine: MachineFacts;
  readonly options: BenchOptions;
  readonly startedAt: string;
  readonly durationS: number;
  readonly doubleRss: { readonly rssMib: number | null; readonly pssMib: number | null };
  readonly memoryAtZero: { readonly agentRssMib: number | null; readonly managerRssMib: number | null };
  readonly latency: LatencyResult;
  readonly waves: readonly WaveResult[];
  readonly list: ListResult;
  readonly events: EventResult;
  readonly qemu: QemuResult;
}

/** The JSON written by `--json`: the keys the performance requirements name, then extras. A null comes with a note. */
export function toJson(r: BenchResults): Record<string, unknown> {
  const best = (pick: (wave: WaveResult) => number): number | null =>
    r.waves.length === 0 ? null : Math.max(...r.waves.map(pick));
  const peak = [...r.waves].sort((a, b) => b.created - a.created)[0];
  const notes: Record<string, string> = {};
  if (r.events.latency === null) notes['event_latency_p50_ms'] = r.events.note;
  if (r.qemu.ratio === null) notes['qemu_boot_ratio'] = r.qemu.note;
  if (peak?.stoppedEarly) notes['agent_rss_mib_500'] = `only ${peak.created} VMs reached: ${peak.stoppedEarly}`;
  return {
    create_p50_ms: round(r.latency.client.p50),
    create_p99_ms: round(r.latency.client.p99),
    floor_p50_ms: round(r.latency.floor.p50),
    floor_p99_ms: round(r.latency.floor.p99),
    creates_per_s: round(best((w) => w.createsPerSecond)),
    deletes_per_s: round(best((w) => w.deletesPerSecond)),
    list_p99_ms_10k: round(r.list.latency.p99),
    event_latency_p50_ms: round(r.events.latency?.p50 ?? null),
    agent_rss_mib_500: round(peak?.agentRssMib ?? null, 1),
    manager_rss_mib_500: round(peak?.managerRssMib ?? null, 1),
    qemu_boot_ratio: round(r.qemu.ratio, 3),
    notes,
    create_ratio_p50: round(ratio(r.latency.client.p50, r.latency.floor.p50), 3),
    create_ratio_p99: round(ratio(r.latency.client.p99, r.latency.floor.p99), 3),
    create_failures: r.latency.failures + r.waves.reduce((sum, w) => sum + w.failures, 0),
    list_p50_ms: round(r.list.latency.p50),
    list_rows: r.list.rows,
    vms_reached: peak?.created ?? 0,
    agent_rss_mib_0: round(r.memoryAtZero.agentRssMib, 1),
    manager_rss_mib_0: round(r.memoryAtZero.managerRssMib, 1),
    double_rss_mib: round(r.doubleRss.rssMib, 1),
    double_pss_mib: round(r.doubleRss.pssMib, 1),
    waves: r.waves.map((w) => ({
      concurrency: w.concurrency,
      created: w.created,
      failures: w.failures,
      creates_per_s: round(w.createsPerSecond),
      create_p50_ms: round(w.createLatency.p50),
      create_p99_ms: round(w.createLatency.p99),
      deletes_per_s: round(w.deletesPerSecond),
      delete_failures: w.deleteFailures,
      agent_rss_mib: round(w.agentRssMib, 1),
      manager_rss_mib: round(w.managerRssMib, 1),
      min_mem_available_mib: w.memAvailableMibAtPeak,
      stopped_early: w.stoppedEarly,
      cpu_ms_per_create:
        w.cpuMsPerCreate === null
          ? null
          : Object.fromEntries(Object.entries(w.cpuMsPerCreate).map(([group, value]) => [group, round(value)])),
    })),
    steps_p50_ms: Object.fromEntries(Object.entries(r.latency.steps).map(([name, s]) => [name, round(s.p50)])),
    floor_steps_p50_ms: Object.fromEntries(Object.entries(r.latency.floorSteps).map(([name, s]) => [name, round(s.p50)])),
    event_note: r.events.note,
    qemu_via_hearth_p50_ms: round(r.qemu.viaHearth?.p50 ?? null),
    qemu_alone_p50_ms: round(r.qemu.qemuAlone?.p50 ?? null),
    floor: r.latency.floorDescription,
    machine: r.machine,
    params: r.options,
    started_at: r.startedAt,
    duration_s: round(r.durationS, 1),
  };
}

const ms = (value: number | null | undefined): string => (value === null || value === undefined ? '-' : value.toFixed(1));

function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join('  ');
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

const row = (label: string, s: Summary | null | undefined, floor?: Summary | null): string[] => [
  label,
  ms(s?.p50),
  ms(s?.p99),
  floor === undefined ? '' : ms(floor?.p50),
  floor === undefined ? '' : ms(floor?.p99),
];

/** The human-readable report. */
export function renderText(r: BenchResults, json: Record<string, unknown>): string {
  const m = r.machine;
  const out: string[] = [];
  out.push(
    `machine: ${m.cpuCount} cores (${m.cpuModel}), ${m.memoryMibTotal} MiB RAM (${m.memoryMibAvailable} MiB available at start), ` +
      `${m.kernel}, node ${m.nodeVersion}, load ${m.loadAverage1m.toFixed(2)}`,
  );
  const o = r.options;
  out.push(
    `params: ${o.isQuick ? 'quick' : 'full'}; latency n=${o.latencyCount}; waves of ${o.throughputCount} VMs at concurrency ` +
      `${o.concurrencies.join(',')}; ${o.listRows} rows; ${o.eventCount} events; qemu n=${o.qemuCount}; ` +
      `double node flags "${o.doubleNodeFlags.join(' ')}"; VM 1 vCPU / 128 MiB` +
      (o.managerMain === null ? '' : `; manager ${o.managerMain}`),
  );
  out.push(`double: ${ms(r.doubleRss.rssMib)} MiB RSS, ${ms(r.doubleRss.pssMib)} MiB PSS each (simulated backend)`);
  out.push('');
  out.push(`1. create latency (ms), n=${r.latency.client.count}, sequential, each paired with a floor run`);
  const stepRows = floorStepOrder.map((name) => row(`  step ${name}`, r.latency.steps[name], r.latency.floorSteps[name] ?? null));
  out.push(
    table(
      ['', 'hearth p50', 'hearth p99', 'floor p50', 'floor p99'],
      [
        row('client-observed create', r.latency.client, r.latency.floor),
        row('  manager overhead (client - totalMs)', r.latency.managerOverhead),
        row('  manager totalMs (agent call)', r.latency.managerTotal),
        row('    agent overhead (totalMs - steps)', r.latency.agentOverhead),
        ...stepRows,
      ],
    ),
  );
  out.push(
    `   ratio to floor: p50 ${String(json['create_ratio_p50'])} (target ≤ 1.25), p99 ${String(json['create_ratio_p99'])} (target ≤ 2)`,
  );
  out.push(`   (tap, rootfs and spawn run concurrently in both; ${r.latency.floorDescription})`);
  if (r.latency.errors.length > 0) out.push(`   errors: ${r.latency.errors.join(' | ')}`);
  out.push('');
  out.push('2/5. throughput waves and resident memory with the wave live');
  out.push(
    table(
      [
        'concurrency',
        'created',
        'failed',
        'creates/s',
        'p50 ms',
        'p99 ms',
        'deletes/s',
        'agent MiB',
        'manager MiB',
        'min MemAvail',
      ],
      r.waves.map((w) => [
        String(w.concurrency),
        `${w.created}/${w.requested}`,
        String(w.failures + w.deleteFailures),
        w.createsPerSecond.toFixed(1),
        ms(w.createLatency.p50),
        ms(w.createLatency.p99),
        w.deletesPerSecond.toFixed(1),
        ms(w.agentRssMib),
        ms(w.managerRssMib),
        String(w.memAvailableMibAtPeak),
      ]),
    ),
  );
  for (const w of r.waves) if (w.errors.length > 0) out.push(`   c=${w.concurrency} errors: ${w.errors.join(' | ')}`);
  out.push(
    '   CPU ms per VM created (the machine has ' +
      `${r.machine.cpuCount} cores, so ${r.machine.cpuCount * 100} ms per create is 10 creates/s):`,
  );
  out.push(
    table(
      ['concurrency', ...cpuGroups, 'total'],
      r.waves.map((w) => {
        const cpu = w.cpuMsPerCreate;
        const total = cpu === null ? null : Object.values(cpu).reduce((sum, value) => sum + value, 0);
        return [String(w.concurrency), ...cpuGroups.map((group) => ms(cpu?.[group] ?? null)), ms(total)];
      }),
    ),
  );
  out.push(
    '   (vmms = the doubles; other = the machine minus the named processes: short-lived `ip`/`cp` children and the kernel)',
  );
  out.push(`   with 0 VMs: agent ${ms(r.memoryAtZero.agentRssMib)} MiB, manager ${ms(r.memoryAtZero.managerRssMib)} MiB`);
  out.push('');
  out.push(
    `3. GET /v1/vms?limit=100 with ${r.list.rows} rows: p50 ${ms(r.list.latency.p50)} ms, p99 ${ms(r.list.latency.p99)} ms ` +
      `(n=${r.list.latency.count}, ${r.list.failures} failed)`,
  );
  out.push(
    `4. event delivery: ${r.events.latency === null ? 'n/a' : `p50 ${ms(r.events.latency.p50)} ms, p99 ${ms(r.events.latency.p99)} ms`} — ${r.events.note}`,
  );
  out.push(
    `6. real guests (QEMU): ${r.qemu.ratio === null ? 'n/a' : `via Hearth p50 ${ms(r.qemu.viaHearth?.p50)} ms, QEMU alone p50 ${ms(r.qemu.qemuAlone?.p50)} ms, ratio ${r.qemu.ratio.toFixed(3)}`} — ${r.qemu.note}`,
  );
  out.push('');
  const keys = [
    'create_p50_ms',
    'create_p99_ms',
    'floor_p50_ms',
    'floor_p99_ms',
    'creates_per_s',
    'deletes_per_s',
    'list_p99_ms_10k',
    'event_latency_p50_ms',
    'agent_rss_mib_500',
    'manager_rss_mib_500',
    'qemu_boot_ratio',
  ];
  out.push(
    table(
      ['key', 'value'],
      keys.map((key) => [key, String(json[key])]),
    ),
  );
  out.push(`finished in ${r.durationS.toFixed(0)} s`);
  return out.join('\n');
}
