import type { MachineFacts } from '../machine.js';
import { round } from '../stats.js';

/** One Manager replica over a window: CPU as a share of one core, resident memory. */
export interface ReplicaUsage {
  readonly role: 'leader' | 'follower';
  /** Mean over the steady window, in % of one core. */
  readonly cpuSteadyPct: number | null;
  /** The highest one-second sample over the whole run. */
  readonly cpuPeakPct: number | null;
  readonly rssSteadyMib: number | null;
  readonly rssPeakMib: number | null;
  /**
   * Means over the last 10 s of the steady window: a follower's figures at rest once a long enough
   * window (`--steady-s`) outlasts its first minute, when it reads every host's inventory once.
   */
  readonly cpuTailPct: number | null;
  readonly rssTailMib: number | null;
}

/**
 * What held the leader's event loop over a window: the delay of its timers (`monitorEventLoopDelay`:
 * the longest stretch it ran without turning) and its GC pauses, by kind.
 */
export interface LoopWindow {
  readonly wallMs: number;
  /**
   * Of that wall time, how long the leader's main thread was runnable but waited for a CPU (the
   * machine's share of each delay, not the Manager's).
   */
  readonly runQueueWaitMs: number | null;
  readonly delayP99Ms: number | null;
  readonly delayMaxMs: number | null;
  readonly gcMajor: GcCount;
  readonly gcMinor: GcCount;
}

/** Garbage collections of one kind: how many, and their pauses summed. */
export interface GcCount {
  readonly count: number;
  readonly ms: number;
}

/** Everything measured at one size (hosts × VMs per host). */
export interface ScaleSizeResult {
  readonly hosts: number;
  readonly vms: number;
  readonly hostProcesses: number;
  readonly heartbeatIntervalMs: number;
  /** Seconds to join, register and seed every host and VM (not a target, to judge the run by). */
  readonly setupS: number;
  readonly replicas: readonly ReplicaUsage[];
  readonly heartbeat: {
    readonly count: number;
    /** Of `count`, those the leader served (the follower served the rest). */
    readonly leaderCount: number;
    readonly failures: number;
    /** From the Manager's request histogram (both replicas), interpolated within its buckets. */
    readonly serverP50Ms: number | null;
    readonly serverP99Ms: number | null;
    readonly serverMeanMs: number | null;
    /** Round trips the simulated hosts measured (client side, on the same loaded machine). */
    readonly clientP99Ms: number | null;
  };
  readonly resync: {
    /** The first resync of a freshly started leader over every VM. */
    readonly firstMs: number | null;
    readonly firstCpuMs: number | null;
    /**
     * What the leader spent beside the pass from its start to the pass's end: its GC pauses, and the
     * heartbeats it served (the pass's CPU is the process's, heartbeats included).
     */
    readonly firstGc: { readonly major: GcCount; readonly minor: GcCount };
    readonly firstHeartbeats: number;
    /** Mean of the periodic resyncs over the steady window. */
    readonly steadyMs: number | null;
    readonly steadyCpuMs: number | null;
    readonly steadyCount: number;
    /** Hosts' inventories per steady pass read from their Agents (a 304 included) and taken as held. */
    readonly steadyInventoriesRead: number | null;
    readonly steadyInventoriesHeld: number | null;
    /**
     * One steady pass run while every host held its heartbeats back: the pass's own time and CPU
     * (the steady figures include what the process served beside it). Null when none ran whole.
     */
    readonly aloneMs: number | null;
    readonly aloneCpuMs: number | null;
  };
  /** The leader's event loop over the steady window. */
  readonly leaderLoop: LoopWindow;
  /** The leader's V8 heap at the end of the steady window, in MiB (null: not in its metrics). */
  readonly leaderHeap: {
    readonly usedMib: number | null;
    readonly totalMib: number | null;
    /** Of the used, the old generation's (what a mark-compact walks). */
    readonly oldUsedMib: number | null;
  };
  readonly burst: {
    readonly creates: number;
    readonly failures: number;
    readonly wallS: number | null;
    /** Accepted → running, from the Manager's own histogram (hearth_vm_create_duration_seconds). */
    readonly lagP50Ms: number | null;
    readonly lagP99Ms: number | null;
    /**
     * Both Managers' CPU from the burst's first create until its VMs ran, per VM accepted: the
     * creates, and what the replicas served meanwhile (heartbeats, the listeners' events).
     */
    readonly managersCpuMsPerCreate: number | null;
    readonly errors: readonly string[];
  };
  readonly list: {
    readonly requests: number;
    readonly failures: number;
    /** Client side: each request's start to its response's last byte, as the walk saw it (the target's figure). */
    readonly p50Ms: number | null;
    readonly p99Ms: number | null;
    /**
     * Server side: `hearth_http_request_duration_seconds` of `GET /v1/vms` on both replicas over the walk,
     * interpolated within its buckets (the Manager's handling, without the wait for the harness's own
     * process or for the request to be read); null from a Manager without the histogram.
     */
    readonly serverP50Ms: number | null;
    readonly serverP99Ms: number | null;
    /** The leader's event loop while the pages were walked. */
    readonly leaderLoop: LoopWindow;
  };
  /** The leader's `/metrics`, scraped one after another (see `measureMetricsScrape`). */
  readonly metricsScrape: {
    readonly scrapes: number;
    readonly p50Ms: number | null;
    readonly cpuMsPerScrape: number | null;
  };
  readonly events: {
    readonly listeners: number;
    /** Deliveries counted: one per listener per event. */
    readonly deliveries: number;
    /** Event `at` (written in the state change's transaction) → a listener's receipt. */
    readonly p50Ms: number | null;
    readonly p99Ms: number | null;
  };
  readonly failover: {
    /** kill -9 of the leader → the other replica says it leads. */
    readonly leadMs: number | null;
    /** kill -9 of the leader → the other replica's first resync done. */
    readonly reconciledMs: number | null;
    /** That first pass of the new term: its wall and the new leader's CPU over it (null: none seen). */
    readonly firstPassMs: number | null;
    readonly firstPassCpuMs: number | null;
    /** Passes the figures above add up (1 unless another finished before the scrape saw the first). */
    readonly firstPassCount: number;
    /** Inventories that pass read from the Agents and took as held (null: not counted). */
    readonly firstPassInventoriesRead: number | null;
    readonly firstPassInventoriesHeld: number | null;
  };
}

export interface ScaleResults {
  readonly machine: MachineFacts;
  /** 1-minute load average at the start and at the end of the run. */
  readonly loadAverage: { readonly start: number; readonly end: number };
  readonly startedAt: string;
  readonly durationS: number;
  readonly sizes: readonly ScaleSizeResult[];
}

/** The figures compared across sizes, with their targets where the requirements give one. */
export const scaleFigures = [
  { key: 'heartbeat_server_p99_ms', target: 20, pick: (s: ScaleSizeResult) => s.heartbeat.serverP99Ms },
  { key: 'resync_first_cpu_ms', target: null, pick: (s: ScaleSizeResult) => s.resync.firstCpuMs },
  { key: 'resync_first_ms', target: null, pick: (s: ScaleSizeResult) => s.resync.firstMs },
  { key: 'resync_steady_cpu_ms', target: null, pick: (s: ScaleSizeResult) => s.resync.steadyCpuMs },
  { key: 'resync_alone_cpu_ms', target: null, pick: (s: ScaleSizeResult) => s.resync.aloneCpuMs },
  { key: 'reconcile_lag_p50_ms', target: null, pick: (s: ScaleSizeResult) => s.burst.lagP50Ms },
  { key: 'reconcile_lag_p99_ms', target: null, pick: (s: ScaleSizeResult) => s.burst.lagP99Ms },
  { key: 'burst_managers_cpu_ms_per_create', target: null, pick: (s: ScaleSizeResult) => s.burst.managersCpuMsPerCreate },
  { key: 'list_p99_ms', target: 20, pick: (s: ScaleSizeResult) => s.list.p99Ms },
  { key: 'leader_loop_delay_max_ms', target: null, pick: (s: ScaleSizeResult) => s.leaderLoop.delayMaxMs },
  { key: 'event_delivery_p99_ms', target: null, pick: (s: ScaleSizeResult) => s.events.p99Ms },
  { key: 'failover_ms', target: 5_000, pick: (s: ScaleSizeResult) => s.failover.reconciledMs },
  { key: 'leader_cpu_steady_pct', target: null, pick: (s: ScaleSizeResult) => leader(s)?.cpuSteadyPct ?? null },
  { key: 'leader_rss_peak_mib', target: null, pick: (s: ScaleSizeResult) => leader(s)?.rssPeakMib ?? null },
  { key: 'leader_heap_used_mib', target: null, pick: (s: ScaleSizeResult) => s.leaderHeap.usedMib },
  { key: 'follower_cpu_steady_pct', target: null, pick: (s: ScaleSizeResult) => follower(s)?.cpuSteadyPct ?? null },
] as const;

const leader = (s: ScaleSizeResult): ReplicaUsage | undefined => s.replicas.find((r) => r.role === 'leader');
const follower = (s: ScaleSizeResult): ReplicaUsage | undefined => s.replicas.find((r) => r.role === 'follower');

/** The target for resync CPU: 2 s of Manager CPU for 100,000 VMs, scaled linearly to the VM count. */
export const resyncCpuMsPer100kVms = 2_000;

/**
 * How a figure grew from the smallest size to the largest, against how the hosts grew: the figure's
 * ratio divided by the hosts' ratio (1 = linear, above 1 = faster than linear). Null when either
 * end is missing or zero.
 */
export function growth(
  smallest: ScaleSizeResult,
  largest: ScaleSizeResult,
  pick: (s: ScaleSizeResult) => number | null,
): { readonly ratio: number | null; readonly perHostRatio: number | null } {
  const a = pick(smallest);
  const b = pick(largest);
  if (a === null || b === null || a <= 0 || smallest.hosts <= 0) return { ratio: null, perHostRatio: null };
  const ratio = b / a;
  return { ratio, perHostRatio: ratio / (largest.hosts / smallest.hosts) };
}

/** The JSON written by `--json`: one entry per size with the headline figures, then the growth. */
export function scaleToJson(r: ScaleResults): Record<string, unknown> {
  const sizes = [...r.sizes].sort((a, b) => a.hosts - b.hosts);
  const smallest = sizes[0];
  const largest = sizes.at(-1);
  const growthOf =
    smallest === undefined || largest === undefined || smallest === largest
      ? {}
      : Object.fromEntries(
          scaleFigures.map(({ key, pick }) => {
            const g = growth(smallest, largest, pick);
            return [key, { ratio: round(g.ratio, 3), per_host_ratio: round(g.perHostRatio, 3) }];
          }),
        );
  return {
    sizes: sizes.map((s) => ({
      hosts: s.hosts,
      vms: s.vms,
      ...Object.fromEntries(scaleFigures.map(({ key, pick }) => [key, round(pick(s))])),
      resync_cpu_target_ms: round((resyncCpuMsPer100kVms * s.vms) / 100_000),
      detail: s,
    })),
    growth: {
      from_hosts: smallest?.hosts ?? null,
      to_hosts: largest?.hosts ?? null,
      figures: growthOf,
    },
    machine: r.machine,
    load_average: r.loadAverage,
    started_at: r.startedAt,
    duration_s: round(r.durationS, 1),
  };
}

const fmt = (value: number | null | undefined, digits = 1): string =>
  value === null || value === undefined ? '-' : value.toFixed(digits);

/** The human-readable report: one column per size, then the growth from the smallest to the largest. */
export function renderScaleText(r: ScaleResults): string {
  const sizes = [...r.sizes].sort((a, b) => a.hosts - b.hosts);
  const m = r.machine;
  const out: string[] = [
    `machine: ${m.cpuCount} cores (${m.cpuModel}), ${m.memoryMibTotal} MiB RAM, ${m.kernel}, node ${m.nodeVersion}, ` +
      `load ${r.loadAverage.start.toFixed(2)} at start, ${r.loadAverage.end.toFixed(2)} at end`,
    '',
  ];
  const rows: [string, (s: ScaleSizeResult) => string][] = [
    ['hosts / VMs', (s) => `${s.hosts} / ${s.vms}`],
    ['host processes', (s) => String(s.hostProcesses)],
    ['setup (join, register, seed) s', (s) => fmt(s.setupS)],
    ...(['leader', 'follower'] as const).flatMap((role): [string, (s: ScaleSizeResult) => string][] => [
      [`${role} CPU % steady / peak`, (s) => usage(s, role, (u) => `${fmt(u.cpuSteadyPct)} / ${fmt(u.cpuPeakPct)}`)],
      [`${role} RSS MiB steady / peak`, (s) => usage(s, role, (u) => `${fmt(u.rssSteadyMib)} / ${fmt(u.rssPeakMib)}`)],
    ]),
    [
      'follower CPU % / RSS MiB, last 10 s of steady',
      (s) => usage(s, 'follower', (u) => `${fmt(u.cpuTailPct)} / ${fmt(u.rssTailMib)}`),
    ],
    ['heartbeats (failed)', (s) => `${s.heartbeat.count} (${s.heartbeat.failures})`],
    [
      'heartbeats on the leader / follower, steady',
      (s) => `${s.heartbeat.leaderCount} / ${s.heartbeat.count - s.heartbeat.leaderCount}`,
    ],
    ['heartbeat server p50 / p99 ms (≤ 20)', (s) => `${fmt(s.heartbeat.serverP50Ms)} / ${fmt(s.heartbeat.serverP99Ms)}`],
    ['heartbeat client p99 ms', (s) => fmt(s.heartbeat.clientP99Ms)],
    ['first resync ms / CPU ms', (s) => `${fmt(s.resync.firstMs, 0)} / ${fmt(s.resync.firstCpuMs, 0)}`],
    [
      'leader GC major n / ms, minor n / ms, start to first resync',
      (s) => gcCounts(s.resync.firstGc.major, s.resync.firstGc.minor),
    ],
    ['heartbeats the leader served, start to first resync', (s) => `${s.resync.firstHeartbeats}`],
    [
      'steady resync ms / CPU ms (n)',
      (s) => `${fmt(s.resync.steadyMs, 0)} / ${fmt(s.resync.steadyCpuMs, 0)} (${s.resync.steadyCount})`,
    ],
    [
      'steady resync inventories read / held per pass',
      (s) => `${fmt(s.resync.steadyInventoriesRead)} / ${fmt(s.resync.steadyInventoriesHeld)}`,
    ],
    ['leader loop delay p99 / max ms, steady', (s) => loopDelay(s.leaderLoop)],
    ['leader GC major n / ms, minor n / ms, steady', (s) => loopGc(s.leaderLoop)],
    [
      'leader heap MiB used / total, old used',
      (s) => `${fmt(s.leaderHeap.usedMib)} / ${fmt(s.leaderHeap.totalMib)}, ${fmt(s.leaderHeap.oldUsedMib)}`,
    ],
    ['leader waited for a CPU, % of steady', (s) => loopWait(s.leaderLoop)],
    ['steady resync alone ms / CPU ms', (s) => `${fmt(s.resync.aloneMs, 0)} / ${fmt(s.resync.aloneCpuMs, 0)}`],
    ['resync CPU target ms', (s) => fmt((resyncCpuMsPer100kVms * s.vms) / 100_000, 0)],
    ['burst creates (failed) / wall s', (s) => `${s.burst.creates} (${s.burst.failures}) / ${fmt(s.burst.wallS)}`],
    ['reconcile lag p50 / p99 ms', (s) => `${fmt(s.burst.lagP50Ms, 0)} / ${fmt(s.burst.lagP99Ms, 0)}`],
    ["burst: both Managers' CPU ms per create", (s) => fmt(s.burst.managersCpuMsPerCreate)],
    ['GET /v1/vms?limit=100 p50 / p99 ms (≤ 20)', (s) => `${fmt(s.list.p50Ms)} / ${fmt(s.list.p99Ms)}`],
    ['GET /v1/vms?limit=100 server p50 / p99 ms', (s) => `${fmt(s.list.serverP50Ms)} / ${fmt(s.list.serverP99Ms)}`],
    ['leader loop delay p99 / max ms, list', (s) => loopDelay(s.list.leaderLoop)],
    ['leader GC major n / ms, minor n / ms, list', (s) => loopGc(s.list.leaderLoop)],
    ['leader waited for a CPU, % of list', (s) => loopWait(s.list.leaderLoop)],
    [
      'GET /metrics on the leader p50 ms / CPU ms per scrape',
      (s) => `${fmt(s.metricsScrape.p50Ms)} / ${fmt(s.metricsScrape.cpuMsPerScrape)}`,
    ],
    [
      'events: listeners, deliveries, p50 / p99 ms',
      (s) => `${s.events.listeners}, ${s.events.deliveries}, ${fmt(s.events.p50Ms)} / ${fmt(s.events.p99Ms)}`,
    ],
    ['failover: leads / reconciled ms (≤ 5000)', (s) => `${fmt(s.failover.leadMs, 0)} / ${fmt(s.failover.reconciledMs, 0)}`],
    [
      "failover: new term's first pass ms / CPU ms (n)",
      (s) => `${fmt(s.failover.firstPassMs, 0)} / ${fmt(s.failover.firstPassCpuMs, 0)} (${s.failover.firstPassCount})`,
    ],
    [
      "failover: new term's first pass inventories read / held",
      (s) => `${fmt(s.failover.firstPassInventoriesRead, 0)} / ${fmt(s.failover.firstPassInventoriesHeld, 0)}`,
    ],
  ];
  const labelWidth = Math.max(...rows.map(([label]) => label.length));
  const cells = rows.map(([label, cell]) => [label, ...sizes.map(cell)]);
  const widths = sizes.map((_, i) => Math.max(...cells.map((row) => (row[i + 1] ?? '').length)));
  for (const row of cells) {
    out.push([row[0]!.padEnd(labelWidth), ...row.slice(1).map((cell, i) => cell.padStart(widths[i] ?? 0))].join('  '));
  }
  // Why creates failed: the first refusals of each size's burst, as the API answered them.
  for (const size of sizes) {
    if (size.burst.errors.length === 0) continue;
    out.push('', `burst refusals at ${size.hosts} hosts (the first ${size.burst.errors.length}):`);
    for (const error of size.burst.errors) out.push(`  ${error}`);
  }
  const smallest = sizes[0];
  const largest = sizes.at(-1);
  if (smallest !== undefined && largest !== undefined && smallest !== largest) {
    out.push('', `growth from ${smallest.hosts} to ${largest.hosts} hosts (×${fmt(largest.hosts / smallest.hosts)}):`);
    for (const { key, pick } of scaleFigures) {
      const g = growth(smallest, largest, pick);
      const verdict = g.perHostRatio === null ? '' : g.perHostRatio > 1.1 ? '  faster than linear' : '';
      out.push(`  ${key.padEnd(26)} ×${fmt(g.ratio, 2)} (per host ×${fmt(g.perHostRatio, 2)})${verdict}`);
    }
  }
  out.push(`finished in ${r.durationS.toFixed(0)} s`);
  return out.join('\n');
}

const loopDelay = (w: LoopWindow): string => `${fmt(w.delayP99Ms)} / ${fmt(w.delayMaxMs)}`;
const loopWait = (w: LoopWindow): string =>
  w.runQueueWaitMs === null || w.wallMs <= 0 ? '-' : fmt((w.runQueueWaitMs / w.wallMs) * 100);
const gcCounts = (major: GcCount, minor: GcCount): string =>
  `${major.count} / ${fmt(major.ms, 0)}, ${minor.count} / ${fmt(minor.ms, 0)}`;
const loopGc = (w: LoopWindow): string => gcCounts(w.gcMajor, w.gcMinor);

function usage(s: ScaleSizeResult, role: 'leader' | 'follower', show: (u: ReplicaUsage) => string): string {
  const found = s.replicas.find((r) => r.role === role);
  return found === undefined ? '-' : show(found);
}
