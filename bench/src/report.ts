import type { MachineFacts } from './machine.js';
import type { BenchOptions } from './options.js';
import { controlPlaneGroups, controlPlaneMs, cpuGroups, endedChildren } from './cpu.js';
import { floorStepOrder, type EventResult, type LatencyResult, type ListResult, type WaveResult } from './phases.js';
import type { NetworkResult } from './network-bench.js';
import type { QemuResult } from './qemu-boot.js';
import type { SnapshotResult } from './snapshot-figures.js';
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
  readonly network: NetworkResult;
  readonly qemu: QemuResult;
  readonly snapshots: SnapshotResult;
}

/** The headline keys, in the order they are printed; each is a number, or null with a note. */
export const headlineKeys = [
  'create_p50_ms',
  'create_p99_ms',
  'floor_p50_ms',
  'floor_p99_ms',
  'creates_per_s',
  'deletes_per_s',
  'control_plane_cpu_ms_per_create',
  'list_p99_ms_10k',
  'event_latency_p50_ms',
  'network_create_p50_ms',
  'network_create_p99_ms',
  'network_ratio_p50',
  'network_ratio_p99',
  'agent_rss_mib_500',
  'manager_rss_mib_500',
  'qemu_boot_ratio',
  'snapshot_create_p50_ms',
  'snapshot_pause_p50_ms',
  'snapshot_restore_ratio',
  'clones_ratio',
] as const;

export type HeadlineKey = (typeof headlineKeys)[number];

/**
 * The control plane's CPU per VM created (Manager + Agent + the Agent's children but the VMMs +
 * PostgreSQL), in the wave with the lowest concurrency: the one least disturbed by contention.
 */
function controlPlaneCpu(r: BenchResults): number | null {
  const wave = [...r.waves].filter((w) => w.cpuMsPerCreate !== null).sort((a, b) => a.concurrency - b.concurrency)[0];
  return wave?.cpuMsPerCreate == null ? null : controlPlaneMs(wave.cpuMsPerCreate);
}

const first = (errors: readonly string[]): string => errors[0] ?? 'no error was recorded';

/** What the Manager's creates failed on, with the machine fact that most often explains it. */
function createFailureNote(r: BenchResults, failed: number, attempted: number, errors: readonly string[]): string {
  const kvm = r.machine.hasKvm ? '' : 'this machine has no usable /dev/kvm and ';
  return `${kvm}${failed} of ${attempted} creates failed, the first with: ${first(errors)}`;
}

/** Why each null headline value is null, in words a reader can act on. */
function nullNotes(r: BenchResults, values: Readonly<Record<HeadlineKey, number | null>>): Record<string, string> {
  const peak = [...r.waves].sort((a, b) => b.created - a.created)[0];
  const latencyNote =
    r.latency.client.count === 0
      ? createFailureNote(r, r.latency.failures, r.latency.count, r.latency.errors)
      : 'no create latency was measured (--latency 0)';
  const waveNote =
    peak === undefined
      ? 'no throughput wave ran (no --concurrency given)'
      : peak.created === 0
        ? createFailureNote(
            r,
            r.waves.reduce((sum, w) => sum + w.failures, 0),
            r.waves.reduce((sum, w) => sum + w.requested, 0),
            r.waves.flatMap((w) => w.errors),
          )
        : `resident memory could not be read from /proc (the process had exited)`;
  const network = r.network.latency;
  const networkNote =
    network === null
      ? r.network.note
      : network.client.count === 0
        ? createFailureNote(r, network.failures, network.count, network.errors)
        : 'no floor run was measured';
  const known: Record<HeadlineKey, string> = {
    control_plane_cpu_ms_per_create: waveNote,
    create_p50_ms: latencyNote,
    create_p99_ms: latencyNote,
    floor_p50_ms: 'no floor run was measured (--latency 0)',
    floor_p99_ms: 'no floor run was measured (--latency 0)',
    creates_per_s: waveNote,
    deletes_per_s: waveNote,
    list_p99_ms_10k:
      r.list.latency.count === 0
        ? `every one of ${r.list.requests} GET /v1/vms requests failed (${r.list.failures} failures)`
        : 'not measured',
    event_latency_p50_ms: r.events.note,
    network_create_p50_ms: networkNote,
    network_create_p99_ms: networkNote,
    network_ratio_p50: networkNote,
    network_ratio_p99: networkNote,
    agent_rss_mib_500: peak?.stoppedEarly ? `only ${peak.created} VMs reached: ${peak.stoppedEarly}` : waveNote,
    manager_rss_mib_500: peak?.stoppedEarly ? `only ${peak.created} VMs reached: ${peak.stoppedEarly}` : waveNote,
    qemu_boot_ratio: r.qemu.note,
    snapshot_create_p50_ms: r.snapshots.note,
    snapshot_pause_p50_ms: r.snapshots.note,
    snapshot_restore_ratio: r.snapshots.note,
    clones_ratio: r.snapshots.cloneCount === 0 ? 'no clones were asked for (--clones 0)' : r.snapshots.note,
  };
  const notes: Record<string, string> = {};
  for (const key of headlineKeys) if (values[key] === null) notes[key] = known[key];
  // A value measured on fewer VMs than asked for is a number, but still needs saying.
  if (peak?.stoppedEarly && notes['agent_rss_mib_500'] === undefined) {
    notes['agent_rss_mib_500'] = `only ${peak.created} VMs reached: ${peak.stoppedEarly}`;
  }
  return notes;
}

/**
 * The Agent's children's CPU per create, largest first, those that ended last: `nft -j 2.4, ip 0.9,
 * ip -j 0.5, ended 0.3`.
 */
export function agentChildrenText(ms: Readonly<Record<string, number>>): string {
  const live = Object.entries(ms)
    .filter(([command]) => command !== endedChildren)
    .sort(([, a], [, b]) => b - a);
  return [...live, [endedChildren, ms[endedChildren] ?? 0] as const]
    .map(([command, value]) => `${command} ${value.toFixed(1)}`)
    .join(', ');
}

/** The JSON written by `--json`: the headline keys, then extras. A null comes with a note. */
export function toJson(r: BenchResults): Record<string, unknown> {
  const network = r.network.latency;
  const best = (pick: (wave: WaveResult) => number): number | null =>
    r.waves.every((wave) => wave.created === 0) ? null : Math.max(...r.waves.map(pick));
  const peak = [...r.waves].sort((a, b) => b.created - a.created)[0];
  const values: Record<HeadlineKey, number | null> = {
    create_p50_ms: round(r.latency.client.p50),
    create_p99_ms: round(r.latency.client.p99),
    floor_p50_ms: round(r.latency.floor.p50),
    floor_p99_ms: round(r.latency.floor.p99),
    creates_per_s: round(best((w) => w.createsPerSecond)),
    control_plane_cpu_ms_per_create: round(controlPlaneCpu(r)),
    deletes_per_s: round(best((w) => w.deletesPerSecond)),
    list_p99_ms_10k: round(r.list.latency.p99),
    event_latency_p50_ms: round(r.events.latency?.p50 ?? null),
    network_create_p50_ms: round(network?.client.p50 ?? null),
    network_create_p99_ms: round(network?.client.p99 ?? null),
    network_ratio_p50: round(ratio(network?.client.p50 ?? null, network?.floor.p50 ?? null), 3),
    network_ratio_p99: round(ratio(network?.client.p99 ?? null, network?.floor.p99 ?? null), 3),
    agent_rss_mib_500: round(peak?.agentRssMib ?? null, 1),
    manager_rss_mib_500: round(peak?.managerRssMib ?? null, 1),
    qemu_boot_ratio: round(r.qemu.ratio, 3),
    snapshot_create_p50_ms: round(r.snapshots.create.p50),
    snapshot_pause_p50_ms: round(r.snapshots.pause.p50),
    snapshot_restore_ratio: round(r.snapshots.restoreRatio, 3),
    clones_ratio: round(r.snapshots.clonesRatio, 3),
  };
  const notes = nullNotes(r, values);
  return {
    ...values,
    notes,
    create_ratio_p50: round(ratio(r.latency.client.p50, r.latency.floor.p50), 3),
    create_ratio_p99: round(ratio(r.latency.client.p99, r.latency.floor.p99), 3),
    create_failures: r.latency.failures + r.waves.reduce((sum, w) => sum + w.failures, 0),
    list_p50_ms: round(r.list.latency.p50),
    list_manager_cpu_ms_per_page: round(r.list.cpuMsPerPage.manager, 2),
    list_postgres_cpu_ms_per_page: round(r.list.cpuMsPerPage.postgres, 2),
    list_manager_scavenges: r.list.managerGc?.minor.count ?? null,
    list_manager_mark_compacts: r.list.managerGc?.major.count ?? null,
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
      control_plane_cpu_ms_per_create: round(w.cpuMsPerCreate === null ? null : controlPlaneMs(w.cpuMsPerCreate)),
      control_plane_background_ms_per_s: round(controlPlaneMs(w.backgroundCpuMsPerSecond)),
      control_plane_marginal_cpu_ms_per_create: round(w.marginalControlPlaneMsPerCreate),
      control_plane_live_background_ms_per_s:
        w.liveBackgroundCpuMsPerSecond === null ? null : round(controlPlaneMs(w.liveBackgroundCpuMsPerSecond)),
      agent_inventory_reads_per_create: round(w.agentReadsPerCreate?.inventory ?? null, 3),
      agent_vm_reads_per_create: round(w.agentReadsPerCreate?.vm ?? null, 3),
      cpu_ms_per_create:
        w.cpuMsPerCreate === null
          ? null
          : Object.fromEntries(Object.entries(w.cpuMsPerCreate).map(([group, value]) => [group, round(value)])),
      agent_children_cpu_ms_per_create:
        w.agentChildrenMsPerCreate === null
          ? null
          : Object.fromEntries(Object.entries(w.agentChildrenMsPerCreate).map(([command, value]) => [command, round(value)])),
    })),
    steps_p50_ms: Object.fromEntries(Object.entries(r.latency.steps).map(([name, s]) => [name, round(s.p50)])),
    floor_steps_p50_ms: Object.fromEntries(Object.entries(r.latency.floorSteps).map(([name, s]) => [name, round(s.p50)])),
    event_note: r.events.note,
    network_egress_change_p50_ms: round(r.network.egressChange?.p50 ?? null),
    network_egress_change_p99_ms: round(r.network.egressChange?.p99 ?? null),
    network_floor_p50_ms: round(network?.floor.p50 ?? null),
    network_floor_p99_ms: round(network?.floor.p99 ?? null),
    network_steps_p50_ms: Object.fromEntries(Object.entries(network?.steps ?? {}).map(([name, s]) => [name, round(s.p50)])),
    network_floor_steps_p50_ms: Object.fromEntries(
      Object.entries(network?.floorSteps ?? {}).map(([name, s]) => [name, round(s.p50)]),
    ),
    network_note: r.network.note,
    qemu_via_hearth_p50_ms: round(r.qemu.viaHearth?.p50 ?? null),
    qemu_alone_p50_ms: round(r.qemu.qemuAlone?.p50 ?? null),
    snapshot_memory_mib: r.snapshots.memoryMib,
    snapshot_rounds: r.snapshots.create.count,
    snapshot_restore_p50_ms: round(r.snapshots.restore.p50),
    snapshot_restore_floor_p50_ms: round(r.snapshots.restoreFloor.p50),
    restore_before_apply_p50_ms: round(r.snapshots.restoreBreakdown.beforeApplyP50Ms),
    restore_apply_p50_ms: round(r.snapshots.restoreBreakdown.applyP50Ms),
    restore_guest_p50_ms: round(r.snapshots.restoreBreakdown.guestP50Ms),
    restore_steps_p50_ms: Object.fromEntries(
      Object.entries(r.snapshots.restoreBreakdown.stepsP50Ms).map(([name, value]) => [name, round(value)]),
    ),
    clone_count: r.snapshots.cloneCount,
    clones_all_answering_p50_ms: round(r.snapshots.clones.p50),
    clones_floor_p50_ms: round(r.snapshots.clonesFloor.p50),
    clone_accept_p50_ms: round(r.snapshots.cloneBreakdown.acceptP50Ms),
    clone_before_apply_p50_ms: round(r.snapshots.cloneBreakdown.beforeApplyP50Ms),
    clone_apply_p50_ms: round(r.snapshots.cloneBreakdown.applyP50Ms),
    clone_guest_p50_ms: round(r.snapshots.cloneBreakdown.guestP50Ms),
    clone_steps_p50_ms: Object.fromEntries(
      Object.entries(r.snapshots.cloneBreakdown.stepsP50Ms).map(([name, value]) => [name, round(value)]),
    ),
    clone_cpu_ms_per_clone_p50:
      r.snapshots.cloneCpuMsP50 === null
        ? null
        : Object.fromEntries(Object.entries(r.snapshots.cloneCpuMsP50).map(([group, value]) => [group, round(value)])),
    clone_marks_p50_ms: Object.fromEntries(
      Object.entries(r.snapshots.cloneMarksP50).map(([name, value]) => [name, round(value)]),
    ),
    clone_floor_marks_p50_ms: Object.fromEntries(
      Object.entries(r.snapshots.floorMarksP50).map(([name, value]) => [name, round(value)]),
    ),
    clone_phases_p50_ms: Object.fromEntries(
      Object.entries(r.snapshots.clonePhases).map(([name, pair]) => [
        name,
        { clone: round(pair.clone), alone: round(pair.alone) },
      ]),
    ),
    clone_qemu_p50_ms: Object.fromEntries(
      (['clone', 'alone'] as const).map((side) => [
        side,
        Object.fromEntries(
          Object.entries(r.snapshots.cloneQemu[side]).map(([name, value]) => [name, name === 'count' ? value : round(value)]),
        ),
      ]),
    ),
    clone_doubles_at_rest_ms_per_s: round(r.snapshots.doublesAtRestMsPerS),
    clone_timelines: r.snapshots.cloneTimelines,
    clone_floor_timelines: r.snapshots.cloneFloorTimelines,
    snapshot_note: r.snapshots.note,
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

/** Section 8: the creates with networking on against their floor, step by step, or why there are none. */
function networkText(network: NetworkResult): string[] {
  const l = network.latency;
  if (l === null) return [`8. create latency with networking on: n/a — ${network.note}`];
  const steps = [...floorStepOrder, 'egress' as const].map((name) =>
    row(`  step ${name}`, l.steps[name], l.floorSteps[name] ?? null),
  );
  const r50 = ratio(l.client.p50, l.floor.p50);
  const r99 = ratio(l.client.p99, l.floor.p99);
  return [
    `8. create latency with networking on (ms), n=${l.client.count}: address, NAT, an egress policy of two entries and a published port per VM`,
    table(
      ['', 'hearth p50', 'hearth p99', 'floor p50', 'floor p99'],
      [row('client-observed create', l.client, l.floor), row('  manager totalMs (agent call)', l.managerTotal), ...steps],
    ),
    `   ratio to floor: p50 ${r50 === null ? '-' : r50.toFixed(3)}, p99 ${r99 === null ? '-' : r99.toFixed(3)} (target ≤ 1.25)`,
    `   (${l.floorDescription})`,
    `   egress change on a running VM, request → answered with the chain changed: p50 ${ms(network.egressChange?.p50 ?? null)}, ` +
      `p99 ${ms(network.egressChange?.p99 ?? null)} ms (target ≤ 1,000)`,
    ...(l.errors.length > 0 ? [`   errors: ${l.errors.join(' | ')}`] : []),
  ];
}

/** The human-readable report. */
export function renderText(r: BenchResults, json: Record<string, unknown>): string {
  const m = r.machine;
  const out: string[] = [];
  out.push(
    `machine: ${m.cpuCount} cores (${m.cpuModel}), ${m.memoryMibTotal} MiB RAM (${m.memoryMibAvailable} MiB available at start), ` +
      `${m.kernel}, node ${m.nodeVersion}, load ${m.loadAverage1m.toFixed(2)}, /dev/kvm ${m.hasKvm ? 'usable' : 'absent (the simulated VMs need none)'}`,
  );
  const o = r.options;
  out.push(
    `params: ${o.isQuick ? 'quick' : 'full'}; latency n=${o.latencyCount}; waves of ${o.throughputCount} VMs at concurrency ` +
      `${o.concurrencies.join(',')}; ${o.listRows} rows; ${o.eventCount} events; qemu n=${o.qemuCount}; ` +
      `snapshot rounds ${o.snapshotRounds} (after ${o.warmupRounds} uncounted) of ${o.cloneCount} clones, ${o.vmmPoolSize} warm VMMs; ` +
      `double node flags "${o.doubleNodeFlags.join(' ')}"; VM 1 vCPU / 128 MiB` +
      (o.managerMain === null ? '' : `; manager ${o.managerMain}`) +
      (o.agentMain === null ? '' : `; agent ${o.agentMain}`),
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
    `   ratio to floor: p50 ${String(json['create_ratio_p50'])} (target ≤ 1.10), p99 ${String(json['create_ratio_p99'])} (target ≤ 1.5)`,
  );
  out.push(`   (tap and rootfs run concurrently in both, the configured spawn after them; ${r.latency.floorDescription})`);
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
      ['concurrency', ...cpuGroups, 'control plane', 'total'],
      r.waves.map((w) => {
        const cpu = w.cpuMsPerCreate;
        const total = cpu === null ? null : Object.values(cpu).reduce((sum, value) => sum + value, 0);
        return [
          String(w.concurrency),
          ...cpuGroups.map((group) => ms(cpu?.[group] ?? null)),
          ms(cpu === null ? null : controlPlaneMs(cpu)),
          ms(total),
        ];
      }),
    ),
  );
  for (const w of r.waves) {
    if (w.agentChildrenMsPerCreate === null) continue;
    out.push(
      `   agent-children at concurrency ${w.concurrency}, ms per create: ${agentChildrenText(w.agentChildrenMsPerCreate)}`,
    );
  }
  out.push(
    table(
      ['concurrency', 'background ms/s', 'manager', 'agent', 'agent-children', 'postgres', 'beyond background ms/create'],
      r.waves.map((w) => [
        String(w.concurrency),
        ms(controlPlaneMs(w.backgroundCpuMsPerSecond)),
        ...controlPlaneGroups.map((group) => ms(w.backgroundCpuMsPerSecond[group])),
        ms(w.marginalControlPlaneMsPerCreate),
      ]),
    ),
  );
  out.push(
    '   (background = the control plane at rest (heartbeats, resyncs, GC), CPU ms per second in the quieter of two 5 s windows before the wave (one 1 s window with --quick) (each holds one resync);' +
      ' beyond background = the control plane per create less that rate over the wave: what one more create costs)',
  );
  out.push(
    table(
      ['concurrency', 'VMs live', 'background ms/s', 'manager', 'agent', 'agent-children', 'postgres'],
      r.waves.map((w) => {
        const live = w.liveBackgroundCpuMsPerSecond;
        return [
          String(w.concurrency),
          String(w.created),
          ms(live === null ? null : controlPlaneMs(live)),
          ...controlPlaneGroups.map((group) => ms(live?.[group] ?? null)),
        ];
      }),
    ),
  );
  out.push(
    "   (the same at rest with the wave's VMs live: one window after the creates, before the deletes; what holding them costs each second, which the wave pays as long as it lasts)",
  );
  out.push(
    `   (utime + stime from /proc over the create phase, divided by the VMs created; control plane = ${controlPlaneGroups.join(' + ')}` +
      ' (target ≤ 20 ms); agent-children = what the Agent runs besides its VMMs (ip, cp, mkfifo, nft…), the ended ones through its' +
      " cutime/cstime; postgres = the bench's own server (its postmaster and that one's children); vmms = the doubles; other = the machine minus the named processes: kernel threads and other tenants)",
  );
  out.push(
    table(
      ['concurrency', 'inventory reads / create', 'VM reads / create'],
      r.waves.map((w) => [
        String(w.concurrency),
        w.agentReadsPerCreate === null ? '–' : w.agentReadsPerCreate.inventory.toFixed(3),
        w.agentReadsPerCreate === null ? '–' : w.agentReadsPerCreate.vm.toFixed(3),
      ]),
    ),
  );
  out.push(
    "   (the Manager's reads of the Agent over the wave, from the Agent's access log: whole inventories (304s included) and single VMs' entries)",
  );
  out.push(`   with 0 VMs: agent ${ms(r.memoryAtZero.agentRssMib)} MiB, manager ${ms(r.memoryAtZero.managerRssMib)} MiB`);
  out.push('');
  out.push(
    `3. GET /v1/vms?limit=100 with ${r.list.rows} rows: p50 ${ms(r.list.latency.p50)} ms, p99 ${ms(r.list.latency.p99)} ms ` +
      `(n=${r.list.latency.count}, ${r.list.failures} failed); CPU per page: manager ${ms(r.list.cpuMsPerPage.manager)} ms, ` +
      `postgres ${ms(r.list.cpuMsPerPage.postgres)} ms`,
  );
  out.push(
    `   timed after the leader's resync had read the rows (${r.list.resyncWaitMs === null ? 'its counter could not be read: not waited for' : `waited ${ms(r.list.resyncWaitMs)} ms`}); ` +
      "the slowest, ms (the Manager's main thread on a core / waiting for one; the bench waiting for one / in its GC):",
  );
  out.push(
    `   ${r.list.slowest
      .map(
        (request) =>
          `${ms(request.ms)} (${ms(request.managerRunMs)} / ${ms(request.managerWaitMs)}; ${ms(request.benchWaitMs)} / ${ms(request.benchGcMs)})`,
      )
      .join(', ')}`,
  );
  const gc = r.list.managerGc;
  if (gc !== null) {
    out.push(
      `   the Manager's GC over the walk and its warm-up: ${gc.minor.count} scavenges (${ms(gc.minor.ms)} ms), ` +
        `${gc.major.count} mark-compacts (${ms(gc.major.ms)} ms)`,
    );
  }
  out.push(
    `4. event delivery: ${r.events.latency === null ? 'n/a' : `p50 ${ms(r.events.latency.p50)} ms, p99 ${ms(r.events.latency.p99)} ms`} — ${r.events.note}`,
  );
  out.push(
    `6. real guests (QEMU): ${r.qemu.ratio === null ? 'n/a' : `via Hearth p50 ${ms(r.qemu.viaHearth?.p50)} ms, QEMU alone p50 ${ms(r.qemu.qemuAlone?.p50)} ms, ratio ${r.qemu.ratio.toFixed(3)} (target ≤ 1.10)`} — ${r.qemu.note}`,
  );
  const snap = r.snapshots;
  const vs = (label: string, hearth: number | null, alone: number | null, value: number | null): string =>
    `${label} p50 ${ms(hearth)} ms, QEMU alone ${ms(alone)} ms, ratio ${value === null ? '-' : value.toFixed(3)} (target ≤ 1.2)`;
  out.push(
    `7. snapshots of a ${snap.memoryMib} MiB real guest (QEMU), n=${snap.create.count}: create p50 ${ms(snap.create.p50)} ms, ` +
      `paused p50 ${ms(snap.pause.p50)} ms (max ${ms(snap.pause.max)})`,
  );
  out.push(`   ${vs('restore → answering', snap.restore.p50, snap.restoreFloor.p50, snap.restoreRatio)}`);
  out.push(`   ${vs(`${snap.cloneCount} clones → all answering`, snap.clones.p50, snap.clonesFloor.p50, snap.clonesRatio)}`);
  const parts = snap.cloneBreakdown;
  if (parts.count > 0) {
    const steps = Object.entries(parts.stepsP50Ms).map(([name, value]) => `${name} ${ms(value)}`);
    out.push(
      `   a clone, p50 of ${parts.count}: accepted ${ms(parts.acceptP50Ms)} ms, its apply began ${ms(parts.beforeApplyP50Ms)} ms, apply ${ms(parts.applyP50Ms)} ms ` +
        `(${steps.join(', ')}), then its guest until answering ${ms(parts.guestP50Ms)} ms`,
    );
  }
  const restoreParts = snap.restoreBreakdown;
  if (restoreParts.count > 0) {
    const steps = Object.entries(restoreParts.stepsP50Ms).map(([name, value]) => `${name} ${ms(value)}`);
    out.push(
      `   a restore in place, p50 of ${restoreParts.count}: its apply began ${ms(restoreParts.beforeApplyP50Ms)} ms after the request ` +
        `(its VMM stopped and its host resources released first), apply ${ms(restoreParts.applyP50Ms)} ms (${steps.join(', ')}), ` +
        `then its guest until answering ${ms(restoreParts.guestP50Ms)} ms`,
    );
  }
  const cpu = snap.cloneCpuMsP50;
  if (cpu !== null) {
    out.push(
      `   CPU per clone, p50 of ${snap.clones.count} rounds: Agent ${ms(cpu.agent)} ms, its children ${ms(cpu['agent-children'])} ms, ` +
        `Manager ${ms(cpu.manager)} ms, PostgreSQL ${ms(cpu.postgres)} ms, the doubles ${ms(cpu.vmms)} ms ` +
        `(afterwards, guests running: ${ms(snap.doublesAtRestMsPerS)} ms/s for all ${snap.cloneCount})`,
    );
  }
  const marks = (m: Readonly<Record<string, number | null>>): string =>
    Object.entries(m)
      .map(([name, value]) => `${name} ${ms(value)}`)
      .join(', ');
  if (parts.count > 0) {
    out.push(`   a clone's marks, p50, ms from the request: ${marks(snap.cloneMarksP50)}`);
    out.push(`   QEMU alone's marks, p50, ms from its start: ${marks(snap.floorMarksP50)}`);
    const { beforeLoad, load, afterResume, identityAfterResume } = snap.clonePhases;
    out.push(
      `   phases, clone vs QEMU alone (p50): before the load ${ms(beforeLoad.clone)} vs ${ms(beforeLoad.alone)} ms, ` +
        `the load ${ms(load.clone)} vs ${ms(load.alone)} ms, after the resume until answering ${ms(afterResume.clone)} vs ` +
        `${ms(afterResume.alone)} ms (a clone takes its new identity then, written on its console ${ms(identityAfterResume.clone)} ms ` +
        `after the resume; QEMU alone's guest keeps the source's, work the floor does not do)`,
    );
    const { clone: q, alone: qa } = snap.cloneQemu;
    if (q.count > 0 || qa.count > 0) {
      out.push(
        `   QEMU itself, clone vs alone (p50 of ${q.count} / ${qa.count}): its start (spawn → QMP) ${ms(q.startMs)} vs ${ms(qa.startMs)} ms, ` +
          `its load (QMP → migration ended) ${ms(q.loadMs)} vs ${ms(qa.loadMs)} ms; its CPU by then ${ms(q.cpuAtLoadEndMs)} vs ` +
          `${ms(qa.cpuAtLoadEndMs)} ms, its main thread waiting for a core ${ms(q.mainWaitAtLoadEndMs)} vs ${ms(qa.mainWaitAtLoadEndMs)} ms; ` +
          `its CPU by the answer ${ms(q.cpuAtAnswerMs)} vs ${ms(qa.cpuAtAnswerMs)} ms`,
      );
    }
  }
  out.push(`   — ${snap.note}`);
  out.push(...networkText(r.network));
  out.push('');
  const notes = (json['notes'] ?? {}) as Record<string, string>;
  out.push(
    table(
      ['key', 'value'],
      headlineKeys.map((key) => [key, String(json[key])]),
    ),
  );
  for (const key of headlineKeys) if (notes[key] !== undefined) out.push(`${key}: ${String(json[key])}, because ${notes[key]}`);
  out.push(`finished in ${r.durationS.toFixed(0)} s`);
  return out.join('\n');
}
