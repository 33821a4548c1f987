import { PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import pg from 'pg';
import { parsePrometheusText, waitFor } from '@hearth/testkit';
import { applyPlan } from '@hearth/contracts';
import { AgentLogReads, type AgentReads } from './agent-reads.js';
import { cpuPidsOf, type BenchStack } from './bench-stack.js';
import type { BenchOptions } from './options.js';
import type { PhaseMarks } from './cpu-profile.js';
import { floorDescription, type Floor, type FloorStep } from './floor.js';
import {
  controlPlaneMs,
  agentChildrenMsBetween,
  cpuMsBetween,
  cpuSnapshot,
  marginalControlPlaneMs,
  msPerItem,
  msPerSecond,
  threadTimes,
  vmmCount,
  type CpuGroup,
  type CpuSnapshot,
  type ThreadTimes,
} from './cpu.js';
import { memAvailableMib, rssMib } from './machine.js';
import { agentStepsWallMs, createVm, deleteVm, runPool, vmShape, type ImageIds } from './manager-vms.js';
import { summarize, type Summary } from './stats.js';
import { ulid } from 'ulid';

export type Log = (line: string) => void;

// ---------------------------------------------------------------------------------------------
// 1. Create latency against the floor

export interface LatencyResult {
  readonly count: number;
  readonly failures: number;
  readonly client: Summary;
  readonly managerTotal: Summary;
  /** Client-observed minus the Manager's totalMs: validation, placement, the DB writes, HTTP. */
  readonly managerOverhead: Summary;
  /** totalMs minus the Agent's step wall time: the Manager→Agent HTTP hop, the Agent's records. */
  readonly agentOverhead: Summary;
  readonly steps: Readonly<Record<string, Summary>>;
  readonly floor: Summary;
  readonly floorSteps: Readonly<Record<string, Summary>>;
  readonly floorDescription: string;
  readonly errors: readonly string[];
}

export interface LatencyOptions {
  /** Fields of create `i`'s body beyond its name, shape and images. */
  readonly body?: (index: number) => Readonly<Record<string, unknown>>;
  /**
   * Delete each Manager VM right after its create (untimed), as the floor destroys each of its
   * own, so that neither side's host state grows over the run; default: all at the end.
   */
  readonly isDeletedEach?: boolean;
  readonly namePrefix?: string;
  readonly floorDescription?: string;
}

/**
 * Alternates one floor run and one create through the Manager, so both see the same machine load.
 * The first two pairs warm caches and are not counted. Manager VMs are deleted at the end (or each
 * after its create).
 */
export async function measureCreateLatency(
  stack: BenchStack,
  images: ImageIds,
  floor: Floor,
  count: number,
  log: Log,
  options: LatencyOptions = {},
): Promise<LatencyResult> {
  const warmup = 2;
  const client: number[] = [];
  const managerTotal: number[] = [];
  const managerOverhead: number[] = [];
  const agentOverhead: number[] = [];
  const steps = new Map<string, number[]>();
  const floorTotal: number[] = [];
  const floorSteps = new Map<string, number[]>();
  const errors: string[] = [];
  const created: string[] = [];
  for (let i = 0; i < count + warmup; i++) {
    const floorRun = await floor.create(i);
    await floor.destroy(i);
    const outcome = await createVm(stack, images, `${options.namePrefix ?? 'lat'}-${i}`, options.body?.(i));
    if (outcome.vm !== null) created.push(outcome.vm.id);
    if (options.isDeletedEach === true && outcome.vm !== null) {
      const deleted = await deleteVm(stack, outcome.vm.id);
      if (deleted.error === null) created.pop();
      else errors.push(`delete: ${deleted.error}`);
    }
    if (i < warmup) continue;
    floorTotal.push(floorRun.totalMs);
    for (const [name, ms] of Object.entries(floorRun.steps)) push(floorSteps, name, ms);
    if (outcome.vm === null || outcome.vm.totalMs === null) {
      errors.push(outcome.error ?? 'no totalMs');
      continue;
    }
    client.push(outcome.clientMs);
    managerTotal.push(outcome.vm.totalMs);
    managerOverhead.push(outcome.clientMs - outcome.vm.totalMs);
    agentOverhead.push(outcome.vm.totalMs - agentStepsWallMs(outcome.vm.steps));
    for (const step of outcome.vm.steps) push(steps, step.name, step.durationMs);
    if ((i + 1) % 25 === 0) log(`  latency: ${i + 1 - warmup}/${count}`);
  }
  await runPool(created.length, 10, (i) => deleteVm(stack, created[i] as string));
  return {
    count,
    failures: errors.length,
    client: summarize(client),
    managerTotal: summarize(managerTotal),
    managerOverhead: summarize(managerOverhead),
    agentOverhead: summarize(agentOverhead),
    steps: summaries(steps),
    floor: summarize(floorTotal),
    floorSteps: summaries(floorSteps),
    floorDescription: options.floorDescription ?? floorDescription,
    errors: errors.slice(0, 5),
  };
}

function push(map: Map<string, number[]>, key: string, value: number): void {
  const list = map.get(key) ?? [];
  list.push(value);
  map.set(key, list);
}

function summaries(map: Map<string, number[]>): Record<string, Summary> {
  return Object.fromEntries([...map].map(([key, values]) => [key, summarize(values)]));
}

/** The Agent's steps for a VM without metrics and with its guest configured, which the floor repeats one by one. */
export const floorStepOrder = applyPlan({
  isMetricsEnabled: false,
  guest: { ipAddress: '172.30.0.2', prefixLength: 16, gateway: '172.30.0.1', dnsServers: [], hostname: 'floor' },
}) as readonly FloorStep[];

// ---------------------------------------------------------------------------------------------
// 2 and 5. Throughput waves, and memory with N VMs

export interface WaveResult {
  readonly concurrency: number;
  readonly requested: number;
  readonly created: number;
  readonly failures: number;
  readonly createSeconds: number;
  readonly createsPerSecond: number;
  readonly createLatency: Summary;
  readonly deleted: number;
  readonly deleteFailures: number;
  readonly deletesPerSecond: number;
  /** Why creating stopped early (memory guard), or null. */
  readonly stoppedEarly: string | null;
  readonly agentRssMib: number | null;
  readonly managerRssMib: number | null;
  readonly memAvailableMibAtPeak: number;
  /** CPU time per VM created, by process group, over the create phase (see cpu.ts). */
  readonly cpuMsPerCreate: Readonly<Record<CpuGroup, number>> | null;
  /** Of it, the Agent's children's, by what each is (`ip`, `ip -j`, `nft -j`…) and those that ended (see cpu.ts). */
  readonly agentChildrenMsPerCreate: Readonly<Record<string, number>> | null;
  /** CPU ms per second of each group at rest, measured just before the wave (see cpu.ts). */
  readonly backgroundCpuMsPerSecond: Readonly<Record<CpuGroup, number>>;
  /** The control plane's CPU per create beyond its background rate over the wave. */
  readonly marginalControlPlaneMsPerCreate: number | null;
  /**
   * CPU ms per second of each group at rest with the wave's VMs live (one window after the
   * creates): what holding them costs while nothing is asked, which a wave pays per second too.
   */
  readonly liveBackgroundCpuMsPerSecond: Readonly<Record<CpuGroup, number>> | null;
  /**
   * What the Manager read from the Agent per VM created, from the wave's first create until its
   * VMs' memory is read (1.5 s after the last): whole inventories, and single VMs' entries.
   */
  readonly agentReadsPerCreate: AgentReads | null;
  readonly errors: readonly string[];
}

export async function measureWave(
  stack: BenchStack,
  images: ImageIds,
  concurrency: number,
  count: number,
  minMemAvailableMib: number,
  restWindows: BenchOptions['restWindows'],
  log: Log,
  profile: PhaseMarks | null = null,
): Promise<WaveResult> {
  let stoppedEarly: string | null = null;
  let lowestMemAvailable = memAvailableMib();
  const errors: string[] = [];
  const shouldStop = (): boolean => {
    const available = memAvailableMib();
    lowestMemAvailable = Math.min(lowestMemAvailable, available);
    if (available < minMemAvailableMib && stoppedEarly === null) {
      stoppedEarly = `MemAvailable ${available} MiB < ${minMemAvailableMib} MiB`;
      log(`  stopping creates: ${stoppedEarly}`);
    }
    return stoppedEarly !== null;
  };
  const cpuPids = cpuPidsOf(stack);
  // A VMM of an earlier phase reaped during the wave would count as the Agent's child: wait them out
  // (500 deletes on a loaded machine take minutes, and a run that gives up loses every figure).
  const cpuBefore = await waitFor(
    () => {
      const snapshot = cpuSnapshot(cpuPids);
      return vmmCount(snapshot) === 0 ? snapshot : null;
    },
    { timeoutMs: 180_000, description: 'the VMMs of earlier phases to end' },
  );
  // The background: heartbeats, resyncs and GC at rest, which a wave pays for as long as it lasts.
  // The quietest window counts: work the previous phase left (its deletes) fades over the first.
  const restWindow = async (from: CpuSnapshot): Promise<{ at: CpuSnapshot; rate: Record<CpuGroup, number> }> => {
    await new Promise((resolve) => setTimeout(resolve, restWindows.seconds * 1_000));
    const at = cpuSnapshot(cpuPids);
    return { at, rate: msPerSecond(cpuMsBetween(from, at), restWindows.seconds) };
  };
  let { at: cpuAtRest, rate: backgroundCpuMsPerSecond } = await restWindow(cpuBefore);
  for (let window = 1; window < restWindows.count; window++) {
    const next = await restWindow(cpuAtRest);
    if (controlPlaneMs(next.rate) < controlPlaneMs(backgroundCpuMsPerSecond)) backgroundCpuMsPerSecond = next.rate;
    cpuAtRest = next.at;
  }
  if (profile !== null) {
    // The profile covers the creates alone, and the CPU it took to write it is not theirs.
    await profile.mark(null);
    cpuAtRest = cpuSnapshot(cpuPids);
  }
  const agentReads = new AgentLogReads(stack.agentLogFile);
  const startedAt = performance.now();
  let done = 0;
  const outcomes = await runPool(
    count,
    concurrency,
    async (i) => {
      const outcome = await createVm(stack, images, `tp-c${concurrency}-${i}`);
      if (outcome.error !== null) errors.push(outcome.error);
      done += 1;
      if (done % 100 === 0) log(`  concurrency ${concurrency}: ${done}/${count} created, MemAvailable ${memAvailableMib()} MiB`);
      return outcome;
    },
    shouldStop,
  );
  const createSeconds = (performance.now() - startedAt) / 1000;
  const cpuAfter = cpuSnapshot(cpuPids);
  const cpuMs = cpuMsBetween(cpuAtRest, cpuAfter);
  await profile?.mark(`wave-c${concurrency}`);
  const ids = outcomes.flatMap((outcome) => (outcome.vm === null ? [] : [outcome.vm.id]));
  const cpuMsPerCreate = ids.length === 0 ? null : msPerItem(cpuMs, ids.length);
  const agentChildrenMsPerCreate =
    ids.length === 0
      ? null
      : Object.fromEntries(
          Object.entries(agentChildrenMsBetween(cpuAtRest, cpuAfter)).map(([command, ms]) => [command, ms / ids.length]),
        );
  // Let the heartbeat and GC settle a moment before reading resident memory with every VM live.
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  const agentRssMib = rssMib(stack.agent.child.pid);
  const managerRssMib = rssMib(stack.manager.child.pid);
  const reads = agentReads.since();
  // The same rest window with the VMs live: what grows with the VMs held, apart from the creates.
  await profile?.mark(null);
  const liveBackground = ids.length === 0 ? null : await restWindow(cpuSnapshot(cpuPids));
  await profile?.mark(`rest-live-c${concurrency}`);
  lowestMemAvailable = Math.min(lowestMemAvailable, memAvailableMib());

  const deleteStartedAt = performance.now();
  const deletions = await runPool(ids.length, concurrency, (i) => deleteVm(stack, ids[i] as string));
  const deleteSeconds = (performance.now() - deleteStartedAt) / 1000;
  const deleteFailures = deletions.filter((d) => d.error !== null);
  for (const failure of deleteFailures.slice(0, 3)) errors.push(`delete: ${failure.error}`);
  return {
    concurrency,
    requested: count,
    created: ids.length,
    failures: outcomes.length - ids.length,
    createSeconds,
    createsPerSecond: ids.length / createSeconds,
    createLatency: summarize(outcomes.filter((o) => o.vm !== null).map((o) => o.clientMs)),
    deleted: deletions.length - deleteFailures.length,
    deleteFailures: deleteFailures.length,
    deletesPerSecond: (deletions.length - deleteFailures.length) / deleteSeconds,
    stoppedEarly,
    agentRssMib,
    managerRssMib,
    memAvailableMibAtPeak: lowestMemAvailable,
    cpuMsPerCreate,
    agentChildrenMsPerCreate,
    backgroundCpuMsPerSecond,
    marginalControlPlaneMsPerCreate:
      ids.length === 0 ? null : marginalControlPlaneMs(cpuMs, backgroundCpuMsPerSecond, createSeconds, ids.length),
    liveBackgroundCpuMsPerSecond: liveBackground?.rate ?? null,
    agentReadsPerCreate: ids.length === 0 ? null : { inventory: reads.inventory / ids.length, vm: reads.vm / ids.length },
    errors: errors.slice(0, 5),
  };
}

// ---------------------------------------------------------------------------------------------
// 3. GET /v1/vms with many rows

export interface ListResult {
  readonly rows: number;
  readonly requests: number;
  readonly pageSize: number;
  readonly latency: Summary;
  readonly failures: number;
  /**
   * The Manager's and PostgreSQL's CPU per page over the walk (utime + stime from /proc): what a page
   * costs, which the latency's tail on a shared machine cannot say. Resyncs and heartbeats of the
   * same seconds are in it, as they are in the latency.
   */
  readonly cpuMsPerPage: { readonly manager: number; readonly postgres: number };
  /** The slowest requests, slowest first, with what each spent its time on. */
  readonly slowest: readonly SlowListRequest[];
  /** How long the walk waited for the leader's resync to read the rows written behind its back; null when it could not tell. */
  readonly resyncWaitMs: number | null;
  /**
   * The Manager's garbage collections over the walk (its warm-up included), from its
   * `nodejs_gc_duration_seconds` in `/metrics`: minor (scavenges) and major (mark-compacts), each
   * with their pauses' sum in ms; null when it does not export them.
   */
  readonly managerGc: { readonly [kind in 'minor' | 'major']: { readonly count: number; readonly ms: number } } | null;
}

type GcTotals = NonNullable<ListResult['managerGc']>;

/** The Manager's GC counts and pause sums by kind so far, from its `/metrics`; null when it does not export them. */
async function managerGcTotals(stack: BenchStack): Promise<GcTotals | null> {
  const response = await stack.api<string>('GET', '/metrics');
  if (response.status !== 200 || typeof response.body !== 'string') return null;
  const family = parsePrometheusText(response.body).get('nodejs_gc_duration_seconds');
  if (family === undefined) return null;
  const value = (name: string, kind: string): number =>
    family.samples.find((sample) => sample.name === name && sample.labels['kind'] === kind)?.value ?? 0;
  const of = (kind: string): { count: number; ms: number } => ({
    count: value('nodejs_gc_duration_seconds_count', kind),
    ms: value('nodejs_gc_duration_seconds_sum', kind) * 1000,
  });
  return { minor: of('minor'), major: of('major') };
}

function gcBetween(before: GcTotals | null, after: GcTotals | null): GcTotals | null {
  if (before === null || after === null) return null;
  const delta = (kind: 'minor' | 'major') => ({
    count: after[kind].count - before[kind].count,
    ms: after[kind].ms - before[kind].ms,
  });
  return { minor: delta('minor'), major: delta('major') };
}

/**
 * One timed `GET /v1/vms` and where its time went, from the threads' schedstats: the Manager's main
 * thread (its JavaScript and its garbage collector's pauses) on a core and waiting for one, and the
 * bench's own thread waiting for a core and collecting its garbage. Null where the kernel keeps no
 * schedstats.
 */
export interface SlowListRequest {
  readonly ms: number;
  readonly managerRunMs: number | null;
  readonly managerWaitMs: number | null;
  readonly benchWaitMs: number | null;
  readonly benchGcMs: number;
}

/** The slowest requests the list result names. */
const slowestCount = 5;

/**
 * Inserts `rows` stopped VMs straight into the Manager's database (on a host row of their own, so
 * neither placement nor the Agent sees them), then walks `GET /v1/vms?limit=100` page by page.
 */
export async function measureList(
  stack: BenchStack,
  images: ImageIds,
  rows: number,
  requests: number,
  profile: PhaseMarks | null = null,
): Promise<ListResult> {
  const client = new pg.Client({ connectionString: stack.database.url });
  await client.connect();
  const hostId = `host_${ulid()}`;
  try {
    const now = new Date();
    await client.query(
      `INSERT INTO hosts (id, name, addr, capacity, facts, registered_at, last_heartbeat_at)
       VALUES ($1, 'bench-list-rows', 'http://127.0.0.1:9', $2, '{}', $3, $3)`,
      [hostId, JSON.stringify({ cpuCount: 0, memoryMibTotal: 0, memoryMibAvailable: 0, vmCount: 0 }), now],
    );
    const paths = await client.query<{ kind: string; host_path: string }>(
      'SELECT kind, host_path FROM images WHERE id = ANY($1)',
      [[images.kernelImageId, images.rootfsImageId]],
    );
    const kernelPath = paths.rows.find((r) => r.kind === 'kernel')?.host_path ?? '/nonexistent';
    const rootfsPath = paths.rows.find((r) => r.kind === 'rootfs')?.host_path ?? '/nonexistent';
    const steps = JSON.stringify([
      { name: 'tap', durationMs: 5, at: now.toISOString() },
      { name: 'start', durationMs: 3, at: now.toISOString() },
    ]);
    const batch = 1_000;
    for (let offset = 0; offset < rows; offset += batch) {
      const ids: string[] = [];
      const names: string[] = [];
      const macs: string[] = [];
      for (let i = offset; i < Math.min(rows, offset + batch); i++) {
        ids.push(`vm_${ulid(now.getTime() - rows + i)}`);
        names.push(`list-row-${i}`);
        macs.push(
          `06:00:${[(i >> 24) & 255, (i >> 16) & 255, (i >> 8) & 255, i & 255].map((b) => b.toString(16).padStart(2, '0')).join(':')}`,
        );
      }
      await client.query(
        `INSERT INTO vms (id, name, project, state, host_id, vcpu_count, memory_mib, kernel_image_id, rootfs_image_id,
                          kernel_path, rootfs_path, boot_args, guest_mac, is_metrics_enabled, failure_reason,
                          steps, total_ms, created_at, updated_at)
         SELECT id, name, 'default', 'stopped', $4, 1, 128, $5, $6, $7, $8, 'console=ttyS0 reboot=k panic=1', mac, false, NULL,
                $9::jsonb, 8, $10, $10
         FROM unnest($1::text[], $2::text[], $3::text[]) AS t(id, name, mac)`,
        [ids, names, macs, hostId, images.kernelImageId, images.rootfsImageId, kernelPath, rootfsPath, steps, now],
      );
    }
    await client.query('ANALYZE vms');
    const resyncWaitMs = await waitForResyncPasses(stack, 2);

    const timed: TimedRequest[] = [];
    let failures = 0;
    let cursor: string | null = null;
    const warmup = 20;
    const cpuPids = cpuPidsOf(stack);
    const benchGcs: PerformanceEntry[] = [];
    const gcObserver = new PerformanceObserver((entries) => benchGcs.push(...entries.getEntries()));
    gcObserver.observe({ entryTypes: ['gc'] });
    // The profile covers the walk (its warm-up included), not the rows' writing nor the wait for the resync.
    await profile?.mark(null);
    const gcBefore = await managerGcTotals(stack);
    let cpuBefore = cpuSnapshot(cpuPids);
    try {
      for (let i = 0; i < requests + warmup; i++) {
        if (i === warmup) cpuBefore = cpuSnapshot(cpuPids);
        const route: string = `/v1/vms?limit=100${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`;
        const managerBefore = threadTimes(stack.manager.child.pid);
        const benchBefore = threadTimes('self');
        const startedAt = performance.now();
        const response = await stack.api<{ items: unknown[]; nextCursor: string | null }>('GET', route);
        // Timed to the response's last byte: the bench's own parsing of the page is not the Manager's.
        // The threads' times are read after that parsing (about a millisecond, in which the Manager
        // has nothing of this request's left to do).
        const request = {
          startedAt,
          receivedAt: response.receivedAt,
          manager: timesBetween(managerBefore, threadTimes(stack.manager.child.pid)),
          bench: timesBetween(benchBefore, threadTimes('self')),
        };
        if (response.status !== 200) {
          failures += 1;
          cursor = null;
          continue;
        }
        cursor = response.body.nextCursor ?? null;
        if (i >= warmup) timed.push(request);
      }
    } finally {
      gcObserver.disconnect();
    }
    const cpuMs = msPerItem(cpuMsBetween(cpuBefore, cpuSnapshot(cpuPids)), requests);
    const managerGc = gcBetween(gcBefore, await managerGcTotals(stack));
    await profile?.mark('list');
    const cpuMsPerPage = { manager: cpuMs.manager, postgres: cpuMs.postgres };
    const latency = summarize(timed.map((request) => request.receivedAt - request.startedAt));
    return {
      rows,
      requests,
      pageSize: 100,
      latency,
      failures,
      cpuMsPerPage,
      slowest: slowestOf(timed, benchGcs),
      resyncWaitMs,
      managerGc,
    };
  } finally {
    await client.query('DELETE FROM vms WHERE host_id = $1', [hostId]).catch(() => undefined);
    await client.query('DELETE FROM hosts WHERE id = $1', [hostId]).catch(() => undefined);
    await client.end();
  }
}

/** A timed request: `performance.now()` at its start and at its response's last byte, and the threads' times over it. */
export interface TimedRequest {
  readonly startedAt: number;
  readonly receivedAt: number;
  readonly manager: ThreadTimes | null;
  readonly bench: ThreadTimes | null;
}

function timesBetween(before: ThreadTimes | null, after: ThreadTimes | null): ThreadTimes | null {
  return before === null || after === null ? null : { runMs: after.runMs - before.runMs, waitMs: after.waitMs - before.waitMs };
}

/** The slowest of `timed`, slowest first, each with the bench's garbage collection (`gc` entries) inside it. */
export function slowestOf(timed: readonly TimedRequest[], benchGcs: readonly PerformanceEntry[]): SlowListRequest[] {
  const overlapMs = (request: TimedRequest, gc: PerformanceEntry): number =>
    Math.max(0, Math.min(request.receivedAt, gc.startTime + gc.duration) - Math.max(request.startedAt, gc.startTime));
  return [...timed]
    .sort((a, b) => b.receivedAt - b.startedAt - (a.receivedAt - a.startedAt))
    .slice(0, slowestCount)
    .map((request) => ({
      ms: request.receivedAt - request.startedAt,
      managerRunMs: request.manager?.runMs ?? null,
      managerWaitMs: request.manager?.waitMs ?? null,
      benchWaitMs: request.bench?.waitMs ?? null,
      benchGcMs: benchGcs.reduce((sum, gc) => sum + overlapMs(request, gc), 0),
    }));
}

/**
 * Waits until the leader has finished `passes` resyncs since now (its resync counter in
 * `/metrics`), so that rows just written behind its back have been read by a pass that began after
 * them. Those rows are all new to its next pass, which reads every one of them at once: a catch-up a
 * real installation pays as its VMs are created, not once for 10,000 of them in the list's first
 * seconds. Null when the counter cannot be read or does not move within a minute.
 */
async function waitForResyncPasses(stack: BenchStack, passes: number): Promise<number | null> {
  const count = async (): Promise<number | null> => {
    const response = await stack.api<string>('GET', '/metrics');
    const match = /^hearth_reconciler_resync_duration_seconds_count(?:\{[^}]*\})? (\d+)/m.exec(
      typeof response.body === 'string' ? response.body : '',
    );
    return response.status === 200 && match?.[1] !== undefined ? Number(match[1]) : null;
  };
  const startedAt = performance.now();
  const before = await count();
  if (before === null) return null;
  try {
    await waitFor(async () => ((await count()) ?? before) >= before + passes, {
      timeoutMs: 60_000,
      intervalMs: 250,
      description: `${passes} resyncs of the leader`,
    });
  } catch {
    return null;
  }
  return performance.now() - startedAt;
}

// ---------------------------------------------------------------------------------------------
// 4. Event delivery

export interface EventResult {
  readonly latency: Summary | null;
  readonly note: string;
}

/**
 * Opens `GET /v1/events/stream` (server-sent events) and creates VMs: the latency of one VM is
 * from the create's HTTP response (the `running` state change commits just before the Manager
 * answers) to the stream delivering that VM's `running` event. Negative when the event wins.
 */
export async function measureEvents(stack: BenchStack, images: ImageIds, count: number): Promise<EventResult> {
  const controller = new AbortController();
  let response: Response;
  try {
    response = await fetch(`${stack.managerUrl}/v1/events/stream`, {
      headers: { accept: 'text/event-stream', authorization: `Bearer ${stack.adminToken}` },
      signal: controller.signal,
    });
  } catch (error) {
    return { latency: null, note: `stream not reachable: ${error instanceof Error ? error.message : String(error)}` };
  }
  if (response.status === 404) {
    controller.abort();
    return { latency: null, note: 'stream not implemented yet (GET /v1/events/stream answered 404)' };
  }
  if (response.status !== 200 || response.body === null) {
    controller.abort();
    return { latency: null, note: `GET /v1/events/stream answered ${response.status}` };
  }
  const arrivals = new Map<string, number>();
  const waiters = new Map<string, () => void>();
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  const pump = (async () => {
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      const now = performance.now();
      buffer += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = event
          .split('\n')
          .filter((line) => line.startsWith('data:'))
          .map((line) => line.slice(5).trim())
          .join('\n');
        if (!/running/.test(data)) continue;
        const vmId = /vm_[0-9A-HJKMNP-TV-Z]{26}/.exec(data)?.[0];
        if (vmId === undefined || arrivals.has(vmId)) continue;
        arrivals.set(vmId, now);
        waiters.get(vmId)?.();
      }
    }
  })().catch(() => undefined);

  const latencies: number[] = [];
  const ids: string[] = [];
  let missed = 0;
  try {
    for (let i = 0; i < count; i++) {
      const outcome = await createVm(stack, images, `ev-${i}`);
      const respondedAt = performance.now();
      if (outcome.vm === null) continue;
      const vmId = outcome.vm.id;
      ids.push(vmId);
      if (!arrivals.has(vmId)) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 5_000);
          waiters.set(vmId, () => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      const arrivedAt = arrivals.get(vmId);
      if (arrivedAt === undefined) missed += 1;
      else latencies.push(arrivedAt - respondedAt);
    }
  } finally {
    controller.abort();
    await pump;
    await runPool(ids.length, 10, (i) => deleteVm(stack, ids[i] as string));
  }
  if (latencies.length === 0) return { latency: null, note: `the stream delivered no "running" event for ${count} creates` };
  return {
    latency: summarize(latencies),
    note: `create response → "running" event on the stream${missed > 0 ? `; ${missed} events never arrived` : ''}`,
  };
}

export { vmShape };
