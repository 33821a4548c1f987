import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createCleanupStack,
  createJoinToken,
  createManagerProcess,
  createTestDatabase,
  managerMain,
  managerNodeFlags,
  parsePrometheusText,
  waitFor,
  writeEmptyExt4,
  writeFakeKernel,
  type ManagerProcess,
} from '@hearth/testkit';
import pg from 'pg';
import { Pool } from 'undici';
import { ulid } from 'ulid';
import { managerApi, type ManagerApi } from '../bench-stack.js';
import { writeProfiledMain } from '../cpu-profile.js';
import { readProcOrNull, rssMib } from '../machine.js';
import { runPool } from '../manager-vms.js';
import { percentile } from '../stats.js';
import {
  emptyHistogram,
  histogramDelta,
  histogramOf,
  histogramQuantile,
  histogramSum,
  type HistogramSnapshot,
} from './histogram.js';
import type { ScaleOptions } from './scale-options.js';
import type { GcCount, ReplicaUsage, ScaleSizeResult } from './scale-report.js';
import type { ChildMessage, ParentMessage, SeededVm, SimulatedHost } from './simulated-hosts-protocol.js';

export type Log = (line: string) => void;

const simulatedHostsMain = path.join(path.dirname(fileURLToPath(import.meta.url)), 'simulated-hosts.js');
const heartbeatRoute = '/v1/hosts/:id/heartbeat';
const listRoute = '/v1/vms';
/** The Manager's default; the simulated hosts take the interval the Manager answers at registration. */
const heartbeatIntervalMs = 5_000;
const bootArgs = 'console=ttyS0 reboot=k panic=1';

/** A Manager replica with its API (admin token) and its own metrics. */
interface Replica {
  readonly process: ManagerProcess;
  readonly api: ManagerApi;
  metrics(): Promise<ReturnType<typeof parsePrometheusText>>;
  role(): Promise<'leader' | 'follower' | 'disabled' | 'down'>;
}

function replicaOf(process: ManagerProcess, token: () => string, cleanups: ReturnType<typeof createCleanupStack>): Replica {
  const pool = new Pool(process.url, { connections: 64, keepAliveTimeout: 60_000 });
  cleanups.push(() => pool.close());
  const api = managerApi(pool, token, { ms: 30_000 });
  return {
    process,
    api,
    async metrics() {
      return parsePrometheusText((await api<string>('GET', '/metrics')).body);
    },
    async role() {
      try {
        return (await api<{ reconciler: 'leader' | 'follower' | 'disabled' }>('GET', '/v1/system')).body.reconciler;
      } catch {
        return 'down';
      }
    },
  };
}

/** utime + stime of a process in ms, or null when it is gone. */
function processCpuMs(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  const stat = readProcOrNull(`/proc/${pid}/stat`);
  if (stat === null) return null;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** One-second samples of each replica's CPU (% of one core) and RSS, following restarts. */
class UsageSampler {
  private readonly samples: { cpuPct: number; rssMib: number }[][];
  private readonly last: ({ pid: number; cpuMs: number; atMs: number } | null)[];
  private timer: NodeJS.Timeout | null = null;
  private windowStart: number[] = [];

  constructor(private readonly pids: () => readonly (number | undefined)[]) {
    this.samples = pids().map(() => []);
    this.last = pids().map(() => null);
  }

  start(): void {
    this.timer = setInterval(() => this.sample(), 1_000);
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
  }

  private sample(): void {
    const now = performance.now();
    this.pids().forEach((pid, i) => {
      const cpuMs = processCpuMs(pid);
      const rss = rssMib(pid);
      const last = this.last[i];
      if (pid === undefined || cpuMs === null || rss === null) {
        this.last[i] = null;
        return;
      }
      if (last !== null && last !== undefined && last.pid === pid) {
        this.samples[i]!.push({ cpuPct: ((cpuMs - last.cpuMs) / (now - last.atMs)) * 100, rssMib: rss });
      }
      this.last[i] = { pid, cpuMs, atMs: now };
    });
  }

  beginWindow(): void {
    this.windowStart = this.samples.map((list) => list.length);
  }

  /** Replica i: the steady window's means and the whole run's peaks. */
  usage(i: number, role: 'leader' | 'follower'): ReplicaUsage {
    const all = this.samples[i] ?? [];
    const window = all.slice(this.windowStart[i] ?? 0);
    const mean = (values: number[]): number | null =>
      values.length === 0 ? null : values.reduce((sum, value) => sum + value, 0) / values.length;
    const tail = window.slice(-10);
    return {
      role,
      cpuTailPct: mean(tail.map((s) => s.cpuPct)),
      rssTailMib: mean(tail.map((s) => s.rssMib)),
      cpuSteadyPct: mean(window.map((s) => s.cpuPct)),
      cpuPeakPct: all.length === 0 ? null : Math.max(...all.map((s) => s.cpuPct)),
      rssSteadyMib: mean(window.map((s) => s.rssMib)),
      rssPeakMib: all.length === 0 ? null : Math.max(...all.map((s) => s.rssMib)),
    };
  }
}

/** A simulated-hosts process: answers one reply per request, in order. */
class HostProcess {
  private readonly waiting: { resolve: (message: ChildMessage) => void; reject: (error: Error) => void }[] = [];

  constructor(readonly child: ChildProcess) {
    child.on('message', (message: ChildMessage) => {
      const waiter = this.waiting.shift();
      if (message.kind === 'error') waiter?.reject(new Error(`simulated hosts failed: ${message.message}`));
      else waiter?.resolve(message);
    });
    child.on('exit', (code) => {
      for (const waiter of this.waiting.splice(0)) waiter.reject(new Error(`simulated hosts exited with ${code}`));
    });
  }

  request<K extends ChildMessage['kind']>(message: ParentMessage, kind: K): Promise<Extract<ChildMessage, { kind: K }>> {
    return new Promise((resolve, reject) => {
      this.waiting.push({
        resolve: (reply) =>
          reply.kind === kind
            ? resolve(reply as Extract<ChildMessage, { kind: K }>)
            : reject(new Error(`expected ${kind}, got ${reply.kind}`)),
        reject,
      });
      this.child.send(message);
    });
  }
}

/** Locally administered, unicast MACs, one per seeded VM (the Manager's own start with 06:00). */
function seededMac(index: number): string {
  return `02:5e:${[(index >> 24) & 255, (index >> 16) & 255, (index >> 8) & 255, index & 255]
    .map((b) => b.toString(16).padStart(2, '0'))
    .join(':')}`;
}

/**
 * Writes the seeded VMs' rows as a create through the API leaves them once running: state and
 * observed state `running`, on their host, with the registered images, one event row each. No
 * address lease: like VMs made before addresses were leased (network null), which the Manager keeps.
 */
async function insertVmRows(
  databaseUrl: string,
  vms: readonly { id: string; name: string; hostId: string; mac: string }[],
  images: { kernelImageId: string; rootfsImageId: string; kernelPath: string; rootfsPath: string },
): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const now = new Date();
    const steps = JSON.stringify([{ name: 'start', durationMs: 3, at: now.toISOString() }]);
    for (let offset = 0; offset < vms.length; offset += 5_000) {
      const batch = vms.slice(offset, offset + 5_000);
      await client.query(
        `INSERT INTO vms (id, name, project, state, observed_state, observed_at, host_id, vcpu_count, memory_mib,
                          kernel_image_id, rootfs_image_id, kernel_path, rootfs_path, boot_args, guest_mac,
                          is_metrics_enabled, failure_reason, steps, total_ms, created_at, updated_at)
         SELECT id, name, 'default', 'running', 'running', $5, host_id, 1, 128, $6, $7, $8, $9, $10, mac, false, NULL,
                $11::jsonb, 3, $5, $5
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS t(id, name, host_id, mac)`,
        [
          batch.map((vm) => vm.id),
          batch.map((vm) => vm.name),
          batch.map((vm) => vm.hostId),
          batch.map((vm) => vm.mac),
          now,
          images.kernelImageId,
          images.rootfsImageId,
          images.kernelPath,
          images.rootfsPath,
          bootArgs,
          steps,
        ],
      );
    }
    await client.query('ANALYZE vms');
  } finally {
    await client.end();
  }
}

async function resyncHistograms(replica: Replica): Promise<{
  duration: HistogramSnapshot;
  cpu: HistogramSnapshot;
  /** Hosts' inventories the passes read from the Agent and took as held (null: a Manager that does not count them). */
  inventories: { read: number; held: number } | null;
}> {
  const families = await replica.metrics();
  const inventories = families.get('hearth_reconciler_resync_inventories_total');
  const countOf = (source: string): number =>
    inventories?.samples.find((sample) => sample.labels['source'] === source)?.value ?? 0;
  return {
    duration: histogramOf(families.get('hearth_reconciler_resync_duration_seconds')),
    cpu: histogramOf(families.get('hearth_reconciler_resync_cpu_seconds')),
    inventories: inventories === undefined ? null : { read: countOf('read'), held: countOf('held') },
  };
}

/** Inventories read and held per steady pass (null when the Manager does not count them). */
function steadyInventoriesOf(
  before: { read: number; held: number } | null,
  after: { read: number; held: number } | null,
  passes: number,
): { steadyInventoriesRead: number | null; steadyInventoriesHeld: number | null } {
  if (before === null || after === null || passes === 0) return { steadyInventoriesRead: null, steadyInventoriesHeld: null };
  return {
    steadyInventoriesRead: (after.read - before.read) / passes,
    steadyInventoriesHeld: (after.held - before.held) / passes,
  };
}

const toMs = (seconds: number | null): number | null => (seconds === null ? null : seconds * 1000);

/**
 * What held a replica's event loop since the previous scrape of its metrics: prom-client's event-loop
 * delay gauges (`monitorEventLoopDelay`, reset at each scrape, so a scrape at the start of a window and
 * one at its end give the window's figures) and its GC pauses (a cumulative histogram: a delta).
 */
interface LoopScrape {
  readonly atMs: number;
  /** The main thread's time runnable but waiting for a CPU (`/proc/<pid>/schedstat`), null when unreadable. */
  readonly runQueueWaitMs: number | null;
  readonly delayP99Ms: number | null;
  readonly delayMaxMs: number | null;
  readonly gc: ReadonlyMap<string, HistogramSnapshot>;
}

/** The main thread's time waiting on a run queue in ms (schedstat's second field), or null. */
function runQueueWaitMs(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  const stat = readProcOrNull(`/proc/${pid}/schedstat`);
  const waitNs = stat === null ? NaN : Number(stat.split(' ')[1]);
  return Number.isFinite(waitNs) ? waitNs / 1e6 : null;
}

async function loopScrape(replica: Replica): Promise<LoopScrape> {
  const atMs = performance.now();
  const runQueueWait = runQueueWaitMs(replica.process.process.child.pid);
  return { atMs, runQueueWaitMs: runQueueWait, ...loopScrapeOf(await replica.metrics()) };
}

function loopScrapeOf(families: ReturnType<typeof parsePrometheusText>): Omit<LoopScrape, 'atMs' | 'runQueueWaitMs'> {
  const gauge = (name: string): number | null => {
    const value = families.get(name)?.samples[0]?.value;
    return value === undefined || !Number.isFinite(value) ? null : value * 1000;
  };
  const gcFamily = families.get('nodejs_gc_duration_seconds');
  const kinds = new Set((gcFamily?.samples ?? []).map((sample) => sample.labels['kind']).filter((kind) => kind !== undefined));
  return {
    delayP99Ms: gauge('nodejs_eventloop_lag_p99_seconds'),
    delayMaxMs: gauge('nodejs_eventloop_lag_max_seconds'),
    gc: new Map([...kinds].map((kind) => [kind, histogramOf(gcFamily, { kind })])),
  };
}

function gcCountOf(pauses: { readonly count: number; readonly sum: number }): GcCount {
  return { count: pauses.count, ms: pauses.sum * 1000 };
}

/** The window between two scrapes of one replica: its loop's delay over it and the GC pauses in it. */
function loopWindow(before: LoopScrape, after: LoopScrape): ScaleSizeResult['leaderLoop'] {
  const gc = (kind: string): GcCount =>
    gcCountOf(histogramDelta(before.gc.get(kind) ?? emptyHistogram, after.gc.get(kind) ?? emptyHistogram));
  return {
    wallMs: after.atMs - before.atMs,
    runQueueWaitMs:
      before.runQueueWaitMs === null || after.runQueueWaitMs === null ? null : after.runQueueWaitMs - before.runQueueWaitMs,
    delayP99Ms: after.delayP99Ms,
    delayMaxMs: after.delayMaxMs,
    gcMajor: gc('major'),
    gcMinor: gc('minor'),
  };
}

/** The replica's V8 heap as its metrics say (prom-client's default metrics), in MiB. */
function heapOf(families: ReturnType<typeof parsePrometheusText>): ScaleSizeResult['leaderHeap'] {
  const mib = (name: string, labels: Record<string, string> = {}): number | null => {
    const sample = families
      .get(name)
      ?.samples.find((candidate) => Object.entries(labels).every(([key, value]) => candidate.labels[key] === value));
    return sample === undefined ? null : sample.value / 2 ** 20;
  };
  return {
    usedMib: mib('nodejs_heap_size_used_bytes'),
    totalMib: mib('nodejs_heap_size_total_bytes'),
    oldUsedMib: mib('nodejs_heap_space_size_used_bytes', { space: 'old' }),
  };
}

/** Has the replica write a heap snapshot into `dir` (`--heapsnapshot-signal`) and waits until it is written. */
async function writeHeapSnapshot(replica: Replica, dir: string, log: Log): Promise<void> {
  const before = new Set(readdirSync(dir));
  replica.process.process.child.kill('SIGPWR');
  await waitFor(() => readdirSync(dir).some((name) => !before.has(name) && name.endsWith('.heapsnapshot')), {
    timeoutMs: 120_000,
    intervalMs: 200,
    description: 'the leader writes its heap snapshot',
  });
  // The file is made as the snapshot begins, and written on the main thread: a request answered
  // after it began is answered after it ended (one on a loaded machine may time out first: ask again).
  await waitFor(
    () =>
      replica.metrics().then(
        () => true,
        () => false,
      ),
    { timeoutMs: 600_000, intervalMs: 1_000, description: 'the leader answers again after its heap snapshot' },
  );
  log(`  leader heap snapshot written into ${dir}`);
}

/** One full run at `hostCount` hosts: see bench/README.md for each phase. */
export async function runScaleSize(options: ScaleOptions, hostCount: number, log: Log): Promise<ScaleSizeResult> {
  const cleanups = createCleanupStack(`scale run at ${hostCount} hosts`);
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'hearth-scale-'));
  cleanups.push(() => rmSync(workDir, { recursive: true, force: true }));
  try {
    return await runIn(workDir, cleanups, options, hostCount, log);
  } finally {
    await cleanups.run();
  }
}

async function runIn(
  workDir: string,
  cleanups: ReturnType<typeof createCleanupStack>,
  options: ScaleOptions,
  hostCount: number,
  log: Log,
): Promise<ScaleSizeResult> {
  const setupStartedAt = performance.now();
  const database = await createTestDatabase();
  cleanups.push(() => database.drop());
  const imageRoot = path.join(workDir, 'images');
  mkdirSync(imageRoot, { recursive: true });
  const managerEnv = (isReconcilerDisabled: boolean): Record<string, string | undefined> => ({
    MANAGER_LOG_LEVEL: 'warn',
    // One key-encryption key for both replicas: they share the cluster CA sealed in the database.
    MANAGER_CA_KEK_FILE: path.join(workDir, 'ca-kek.key'),
    MANAGER_REQUIRE_KVM: 'off',
    MANAGER_RATE_LIMIT_PER_MINUTE: '1000000000',
    MANAGER_EVENT_STREAMS_PER_CLIENT: String(options.listeners + 10),
    MANAGER_EVENT_STREAMS_MAX: String(options.listeners + 10),
    // The leader's loop delay is a figure of this run: sampled every 10 ms, as it was measured before (ADR 0084).
    MANAGER_EVENT_LOOP_SAMPLE_MS: '10',
    // Seeding happens with no reconciler, so no leader sees half-seeded hosts; then both restart.
    MANAGER_RECONCILER_DISABLED: isReconcilerDisabled ? 'on' : undefined,
  });
  const profiledMain =
    options.managerCpuProfDir === null
      ? undefined
      : writeProfiledMain(path.join(workDir, 'profiled-manager.mjs'), managerMain, options.managerCpuProfDir, 'manager');
  const heapSnapshotDir = options.managerHeapSnapshotDir;
  if (heapSnapshotDir !== null) mkdirSync(heapSnapshotDir, { recursive: true });
  const nodeFlags = [
    ...managerNodeFlags(managerMain),
    // Not SIGUSR2: the profiled main writes its CPU profile on that one.
    ...(heapSnapshotDir === null ? [] : ['--heapsnapshot-signal=SIGPWR', `--diagnostic-dir=${heapSnapshotDir}`]),
  ];
  const managers: ManagerProcess[] = [];
  for (const name of ['a', 'b']) {
    const manager = await createManagerProcess({
      databaseUrl: database.url,
      imageRoot,
      logFile: path.join(workDir, `manager-${name}.log`),
      dataDir: path.join(workDir, `manager-${name}`),
      env: managerEnv(true),
      name: `manager ${name}`,
      readyTimeoutMs: 60_000,
      nodeFlags,
      ...(profiledMain === undefined ? {} : { main: profiledMain }),
    });
    cleanups.push(() => manager.stop());
    await manager.start();
    managers.push(manager);
  }
  const [managerA, managerB] = managers as [ManagerProcess, ManagerProcess];
  const token = await managerA.adminToken();
  const replicas = managers.map((manager) => replicaOf(manager, () => token, cleanups));
  const [a] = replicas as [Replica, Replica];

  const kernelPath = path.join(imageRoot, 'vmlinux.bin');
  const rootfsPath = path.join(imageRoot, 'rootfs.ext4');
  writeFakeKernel(kernelPath);
  writeEmptyExt4(rootfsPath);
  const register = async (kind: 'kernel' | 'rootfs', hostPath: string): Promise<string> => {
    const response = await a.api<{ id: string }>('POST', '/v1/images', { kind, name: `scale-${kind}`, hostPath });
    if (response.status !== 201) throw new Error(`POST /v1/images answered ${response.status}: ${JSON.stringify(response.body)}`);
    return response.body.id;
  };
  const images = { kernelImageId: await register('kernel', kernelPath), rootfsImageId: await register('rootfs', rootfsPath) };

  log(`  ${hostCount} hosts join and register`);
  const joinTokens = await runPool(hostCount, 20, () =>
    createJoinToken(managerA.url, { headers: { authorization: `Bearer ${token}` } }),
  );
  const processCount = Math.ceil(hostCount / options.hostsPerProcess);
  const hostProcesses: HostProcess[] = [];
  for (let p = 0; p < processCount; p += 1) {
    const child = fork(simulatedHostsMain, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const hostProcess = new HostProcess(child);
    hostProcesses.push(hostProcess);
    cleanups.push(async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      await hostProcess.request({ kind: 'stop' }, 'stopped').catch(() => child.kill('SIGKILL'));
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
  }
  const hostsByProcess = await Promise.all(
    hostProcesses.map(async (hostProcess, p) => {
      const names = Array.from({ length: hostCount }, (_, i) => i).filter((i) => i % processCount === p);
      // Half the processes list replica a first, half b: both replicas take heartbeats.
      const bases = p % 2 === 0 ? [managerA.url, managerB.url] : [managerB.url, managerA.url];
      const ready = await hostProcess.request(
        {
          kind: 'start',
          hosts: names.map((i) => ({ name: `sim-${String(i).padStart(4, '0')}`, joinToken: joinTokens[i] as string })),
          managerBases: bases,
          images: [kernelPath, rootfsPath],
          imageRoot,
        },
        'ready',
      );
      return ready.hosts;
    }),
  );

  log(`  seeding ${hostCount * options.vmsPerHost} VMs (Agents first, then the rows)`);
  const rows: { id: string; name: string; hostId: string; mac: string }[] = [];
  await Promise.all(
    hostsByProcess.map(async (hosts: readonly SimulatedHost[], p) => {
      const vms: SeededVm[] = [];
      for (const host of hosts) {
        for (let v = 0; v < options.vmsPerHost; v += 1) {
          const index = rows.length;
          const row = { id: `vm_${ulid()}`, name: `seed-${index}`, hostId: host.hostId, mac: seededMac(index) };
          rows.push(row);
          vms.push({
            hostName: host.name,
            vmId: row.id,
            spec: {
              vcpuCount: 1,
              memoryMib: 128,
              kernelPath,
              rootfsSourcePath: rootfsPath,
              bootArgs,
              guestMac: row.mac,
              isMetricsEnabled: false,
            },
          });
        }
      }
      await hostProcesses[p]!.request({ kind: 'seed', vms }, 'seeded');
    }),
  );
  await insertVmRows(database.url, rows, { ...images, kernelPath, rootfsPath });
  const setupS = (performance.now() - setupStartedAt) / 1000;

  log('  both replicas restart with the reconciler; the first leader resyncs every VM');
  await Promise.all(managers.map((manager) => manager.stop()));
  const sampler = new UsageSampler(() => managers.map((manager) => manager.process.child.pid));
  for (const manager of managers) await manager.start(managerEnv(false));
  sampler.start();
  cleanups.push(() => sampler.stop());
  let leaderIndex = -1;
  await waitFor(
    async () => {
      const roles = await Promise.all(replicas.map((replica) => replica.role()));
      leaderIndex = roles.indexOf('leader');
      if (leaderIndex < 0) return false;
      // A leader busy with its first resync may answer late: ask again rather than fail the run.
      const resyncs = await resyncHistograms(replicas[leaderIndex]!).catch(() => null);
      return resyncs !== null && resyncs.duration.count >= 1;
    },
    // Every 2 s: each poll scrapes the leader's /metrics, whose CPU the pass's own figure counts.
    { timeoutMs: 300_000, intervalMs: 2_000, description: 'a replica leads and finishes its first resync' },
  );
  const leaderReplica = replicas[leaderIndex]!;
  const followerIndex = 1 - leaderIndex;
  const first = await resyncHistograms(leaderReplica);
  const firstMetrics = await leaderReplica.metrics();
  const firstLoop = loopScrapeOf(firstMetrics);
  const firstGc = (kind: string): GcCount => gcCountOf(firstLoop.gc.get(kind) ?? emptyHistogram);
  const firstHeartbeats = histogramOf(firstMetrics.get('hearth_http_request_duration_seconds'), {
    route: heartbeatRoute,
  }).count;

  log(`  steady window: ${options.steadyS} s`);
  // Every host heartbeats again (the restart made them retry), so the window sees the full rate.
  await new Promise((resolve) => setTimeout(resolve, 2 * heartbeatIntervalMs));
  await Promise.all(hostProcesses.map((hostProcess) => hostProcess.request({ kind: 'stats' }, 'stats')));
  const heartbeatsBefore = await Promise.all(
    replicas.map(async (replica) =>
      histogramOf((await replica.metrics()).get('hearth_http_request_duration_seconds'), { route: heartbeatRoute }),
    ),
  );
  const resyncBefore = await resyncHistograms(leaderReplica);
  const loopBefore = await loopScrape(leaderReplica);
  sampler.beginWindow();
  await new Promise((resolve) => setTimeout(resolve, options.steadyS * 1000));
  const usage = [sampler.usage(leaderIndex, 'leader'), sampler.usage(followerIndex, 'follower')];
  const leaderLoop = loopWindow(loopBefore, await loopScrape(leaderReplica));
  const heartbeatsAfter = await Promise.all(
    replicas.map(async (replica) =>
      histogramOf((await replica.metrics()).get('hearth_http_request_duration_seconds'), { route: heartbeatRoute }),
    ),
  );
  const resyncAfter = await resyncHistograms(leaderReplica);
  const leaderHeap = heapOf(await leaderReplica.metrics());
  if (heapSnapshotDir !== null) await writeHeapSnapshot(leaderReplica, heapSnapshotDir, log);
  const clientStats = await Promise.all(hostProcesses.map((hostProcess) => hostProcess.request({ kind: 'stats' }, 'stats')));
  const heartbeats = histogramSum(
    histogramDelta(heartbeatsBefore[0]!, heartbeatsAfter[0]!),
    histogramDelta(heartbeatsBefore[1]!, heartbeatsAfter[1]!),
  );
  const steadyDuration = histogramDelta(resyncBefore.duration, resyncAfter.duration);
  const steadyCpu = histogramDelta(resyncBefore.cpu, resyncAfter.cpu);

  log('  one resync with every heartbeat held back');
  const alone = await measureResyncAlone(hostProcesses, leaderReplica);

  log(`  GET /v1/vms?limit=100: ${options.listRequests} requests`);
  const listLoopBefore = await loopScrape(leaderReplica);
  const listsBefore = await Promise.all(replicas.map(listHistogram));
  const list = await measureList(replicas, options.listRequests);
  const listsAfter = await Promise.all(replicas.map(listHistogram));
  const listLoop = loopWindow(listLoopBefore, await loopScrape(leaderReplica));
  const listServer = histogramSum(
    histogramDelta(listsBefore[0]!, listsAfter[0]!),
    histogramDelta(listsBefore[1]!, listsAfter[1]!),
  );

  log(`  GET /metrics on the leader: ${metricsScrapes} scrapes`);
  const metricsScrape = await measureMetricsScrape(leaderReplica);

  log(`  burst: ${options.burstCreates} creates at concurrency ${options.burstConcurrency}, ${options.listeners} listeners`);
  const burst = await measureBurst(replicas, images, options, managers);

  if (profiledMain !== undefined) {
    for (const manager of managers) manager.process.child.kill('SIGUSR2');
    await new Promise((resolve) => setTimeout(resolve, 3_000));
  }
  log('  failover: kill -9 the leader');
  const failover = await measureFailover(managers[leaderIndex]!, replicas[followerIndex]!);
  if (profiledMain !== undefined) {
    // The new leader's next profile: from the signal before the kill to the end of its first pass.
    managers[followerIndex]!.process.child.kill('SIGUSR2');
    await new Promise((resolve) => setTimeout(resolve, 3_000));
  }
  sampler.stop();

  const clientLatencies = clientStats.flatMap((stats) => [...stats.heartbeatLatenciesMs]);
  return {
    hosts: hostCount,
    vms: rows.length,
    hostProcesses: processCount,
    heartbeatIntervalMs,
    setupS,
    replicas: usage,
    heartbeat: {
      count: heartbeats.count,
      leaderCount: histogramDelta(heartbeatsBefore[leaderIndex]!, heartbeatsAfter[leaderIndex]!).count,
      failures: clientStats.reduce((sum, stats) => sum + stats.heartbeatFailures, 0),
      serverP50Ms: toMs(histogramQuantile(heartbeats, 0.5)),
      serverP99Ms: toMs(histogramQuantile(heartbeats, 0.99)),
      serverMeanMs: heartbeats.count === 0 ? null : (heartbeats.sum / heartbeats.count) * 1000,
      clientP99Ms: percentile(clientLatencies, 99),
    },
    resync: {
      firstMs: first.duration.count >= 1 ? first.duration.sum * 1000 : null,
      firstCpuMs: first.cpu.count >= 1 ? first.cpu.sum * 1000 : null,
      firstGc: { major: firstGc('major'), minor: firstGc('minor') },
      firstHeartbeats,
      steadyMs: steadyDuration.count === 0 ? null : (steadyDuration.sum / steadyDuration.count) * 1000,
      steadyCpuMs: steadyCpu.count === 0 ? null : (steadyCpu.sum / steadyCpu.count) * 1000,
      steadyCount: steadyDuration.count,
      ...steadyInventoriesOf(resyncBefore.inventories, resyncAfter.inventories, steadyDuration.count),
      aloneMs: alone === null ? null : alone.duration.sum * 1000,
      aloneCpuMs: alone === null ? null : alone.cpu.sum * 1000,
    },
    leaderLoop,
    leaderHeap,
    ...burst,
    list: {
      ...list,
      serverP50Ms: toMs(histogramQuantile(listServer, 0.5)),
      serverP99Ms: toMs(histogramQuantile(listServer, 0.99)),
      leaderLoop: listLoop,
    },
    metricsScrape,
    failover,
  };
}

/** Scrapes of the leader's `/metrics` measured one after another. */
const metricsScrapes = 20;

/**
 * The leader's `/metrics`, scraped `metricsScrapes` times one after another: each scrape's time, and
 * the leader's CPU over them all (from /proc, in 10 ms ticks) per scrape, heartbeats served meanwhile
 * included. A Prometheus scrapes every 15–60 s; the harness polls it while it waits for a pass.
 */
async function measureMetricsScrape(replica: Replica): Promise<ScaleSizeResult['metricsScrape']> {
  const pid = replica.process.process.child.pid;
  const cpuBefore = processCpuMs(pid);
  const times: number[] = [];
  for (let i = 0; i < metricsScrapes; i++) {
    const startedAt = performance.now();
    await replica.metrics();
    times.push(performance.now() - startedAt);
  }
  const cpuAfter = processCpuMs(pid);
  return {
    scrapes: metricsScrapes,
    p50Ms: percentile(times, 50),
    cpuMsPerScrape: cpuBefore === null || cpuAfter === null ? null : (cpuAfter - cpuBefore) / metricsScrapes,
  };
}

/**
 * One steady resync pass that starts and ends while every simulated host holds its heartbeats back,
 * so the leader's CPU over it is the pass's own (the resync histogram's CPU counts whatever else the
 * process served meanwhile, mostly heartbeats). Hosts stay alive meanwhile: each inventory read is an
 * answer (ADR 0017), and the hold stays within the heartbeats' stale threshold. Null when no pass ran
 * whole within the hold.
 */
async function measureResyncAlone(
  hostProcesses: readonly HostProcess[],
  leader: Replica,
): Promise<{ duration: HistogramSnapshot; cpu: HistogramSnapshot } | null> {
  // Under three heartbeat intervals, after which a host with neither a beat nor an answer is stale
  // (its inventory reads answer meanwhile, so none should be).
  const holdMs = 2.5 * heartbeatIntervalMs;
  const startedAt = performance.now();
  await Promise.all(hostProcesses.map((hostProcess) => hostProcess.request({ kind: 'hold-heartbeats' }, 'heartbeats-held')));
  // From here on no heartbeat is in flight.
  const heldAt = performance.now();
  try {
    // Each read's time is taken before it is asked for: the histogram it answers is no older.
    let previousAt = performance.now();
    let previous = await resyncHistograms(leader);
    while (performance.now() - startedAt < holdMs) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      const nowAt = performance.now();
      const now = await resyncHistograms(leader);
      if (now.duration.count === previous.duration.count + 1) {
        const duration = histogramDelta(previous.duration, now.duration);
        // It ended after the previous read, so it began after that read's time less its duration.
        if (previousAt - duration.sum * 1000 >= heldAt) return { duration, cpu: histogramDelta(previous.cpu, now.cpu) };
      }
      previous = now;
      previousAt = nowAt;
    }
    return null;
  } finally {
    await Promise.all(
      hostProcesses.map((hostProcess) => hostProcess.request({ kind: 'release-heartbeats' }, 'heartbeats-released')),
    );
  }
}

/** A replica's `GET /v1/vms` requests answered so far, by duration (its own histogram). */
async function listHistogram(replica: Replica): Promise<HistogramSnapshot> {
  return histogramOf((await replica.metrics()).get('hearth_http_request_duration_seconds'), { method: 'GET', route: listRoute });
}

/** Pages through `GET /v1/vms?limit=100`, alternating replicas, one request at a time (the first 20 warm up). */
async function measureList(
  replicas: readonly Replica[],
  requests: number,
): Promise<Omit<ScaleSizeResult['list'], 'leaderLoop' | 'serverP50Ms' | 'serverP99Ms'>> {
  const latencies: number[] = [];
  let failures = 0;
  let cursor: string | null = null;
  for (let i = 0; i < requests + 20; i += 1) {
    const route: string = `/v1/vms?limit=100${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`;
    const startedAt = performance.now();
    const response = await replicas[i % replicas.length]!.api<{ nextCursor: string | null }>('GET', route);
    // Timed to the response's last byte, as the main bench times it: parsing the page is the bench's, not the Manager's.
    const ms = response.receivedAt - startedAt;
    if (response.status !== 200) {
      failures += 1;
      cursor = null;
      continue;
    }
    cursor = response.body.nextCursor ?? null;
    if (i >= 20) latencies.push(ms);
  }
  return { requests, failures, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99) };
}

/** Listeners on both replicas, then a burst of creates; accepted → running from the Manager's histogram. */
async function measureBurst(
  replicas: readonly Replica[],
  images: { kernelImageId: string; rootfsImageId: string },
  options: ScaleOptions,
  managers: readonly ManagerProcess[],
): Promise<Pick<ScaleSizeResult, 'burst' | 'events'>> {
  const token = await managers[0]!.adminToken();
  const delays: number[] = [];
  let delivered = 0;
  const controllers: AbortController[] = [];
  const pumps: Promise<void>[] = [];
  for (let l = 0; l < options.listeners; l += 1) {
    const controller = new AbortController();
    controllers.push(controller);
    const response = await fetch(`${managers[l % managers.length]!.url}/v1/events/stream?type=vm.state_changed`, {
      headers: { accept: 'text/event-stream', authorization: `Bearer ${token}` },
      signal: controller.signal,
    });
    if (response.status !== 200 || response.body === null) throw new Error(`the event stream answered ${response.status}`);
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    pumps.push(
      (async () => {
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          const receivedAt = Date.now();
          buffer += value;
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const data = block
              .split('\n')
              .filter((line) => line.startsWith('data:'))
              .map((line) => line.slice(5).trim())
              .join('');
            if (data === '') continue;
            const event = JSON.parse(data) as { toState?: string; at?: string };
            if (event.toState !== 'running' || event.at === undefined) continue;
            delivered += 1;
            delays.push(receivedAt - Date.parse(event.at));
          }
        }
      })().catch(() => undefined),
    );
  }
  const createdBefore = await Promise.all(
    replicas.map(async (replica) => histogramOf((await replica.metrics()).get('hearth_vm_create_duration_seconds'))),
  );
  const errors: string[] = [];
  const managersCpuMs = (): number | null => {
    const each = replicas.map((replica) => processCpuMs(replica.process.process.child.pid));
    return each.some((ms) => ms === null) ? null : each.reduce<number>((sum, ms) => sum + (ms ?? 0), 0);
  };
  const cpuBefore = managersCpuMs();
  const startedAt = performance.now();
  const outcomes = await runPool(options.burstCreates, options.burstConcurrency, async (i) => {
    const response = await replicas[i % replicas.length]!.api<{ id?: string }>('POST', '/v1/vms', {
      name: `burst-${i}`,
      vcpuCount: 1,
      memoryMib: 128,
      ...images,
    }).catch((error: unknown) => ({ status: 0, body: { error: String(error) } }));
    if (response.status >= 300 && errors.length < 5)
      errors.push(`HTTP ${response.status}: ${JSON.stringify(response.body).slice(0, 200)}`);
    return response.status < 300;
  });
  const accepted = outcomes.filter(Boolean).length;
  let created = createdBefore.map(() => histogramOf(undefined));
  // Until every accepted VM ran once, or 20 s pass without one more (a create that failed never runs).
  let progress = { count: -1, atMs: performance.now() };
  await waitFor(
    async () => {
      created = await Promise.all(
        replicas.map(async (replica, i) =>
          histogramDelta(createdBefore[i]!, histogramOf((await replica.metrics()).get('hearth_vm_create_duration_seconds'))),
        ),
      );
      const running = created.reduce((sum, h) => sum + h.count, 0);
      if (running !== progress.count) progress = { count: running, atMs: performance.now() };
      return running >= accepted || performance.now() - progress.atMs > 20_000;
    },
    { timeoutMs: 300_000, intervalMs: 250, description: `${accepted} burst VMs reach running` },
  ).catch(() => undefined);
  const wallS = (performance.now() - startedAt) / 1000;
  const cpuAfter = managersCpuMs();
  // Each listener should see every burst VM's `running`: wait for them (or 10 s), then close.
  const expected = accepted * options.listeners;
  await waitFor(() => delivered >= expected, {
    timeoutMs: 10_000,
    intervalMs: 100,
    description: 'every listener saw every event',
  }).catch(() => undefined);
  for (const controller of controllers) controller.abort();
  await Promise.all(pumps);
  const lag = histogramSum(created[0]!, created[1]!);
  return {
    burst: {
      creates: accepted,
      failures: options.burstCreates - accepted,
      wallS,
      lagP50Ms: toMs(histogramQuantile(lag, 0.5)),
      lagP99Ms: toMs(histogramQuantile(lag, 0.99)),
      managersCpuMsPerCreate:
        cpuBefore === null || cpuAfter === null || accepted === 0 ? null : (cpuAfter - cpuBefore) / accepted,
      errors,
    },
    events: { listeners: options.listeners, deliveries: delivered, p50Ms: percentile(delays, 50), p99Ms: percentile(delays, 99) },
  };
}

/**
 * kill -9 of the leader; time until the other replica leads, then until its first resync is done, and
 * what that first pass of its term cost it (wall, CPU, inventories read and taken as held).
 */
async function measureFailover(leader: ManagerProcess, other: Replica): Promise<ScaleSizeResult['failover']> {
  const before = await resyncHistograms(other);
  const killedAt = performance.now();
  await leader.kill();
  const seen: { leadMs: number | null; reconciledMs: number | null; after: typeof before | null } = {
    leadMs: null,
    reconciledMs: null,
    after: null,
  };
  await waitFor(
    async () => {
      if (seen.leadMs === null) {
        if ((await other.role()) !== 'leader') return false;
        seen.leadMs = performance.now() - killedAt;
      }
      const now = await resyncHistograms(other);
      if (now.duration.count <= before.duration.count) return false;
      seen.reconciledMs = performance.now() - killedAt;
      seen.after = now;
      return true;
    },
    { timeoutMs: 60_000, intervalMs: 50, description: 'the other replica leads and resyncs' },
  ).catch(() => undefined);
  const { leadMs, reconciledMs, after } = seen;
  // The histograms' sums over the passes finished since the kill: the first one, unless the scrape came late.
  const inventories = after?.inventories ?? null;
  return {
    leadMs,
    reconciledMs,
    firstPassMs: after === null ? null : (after.duration.sum - before.duration.sum) * 1000,
    firstPassCpuMs: after === null ? null : (after.cpu.sum - before.cpu.sum) * 1000,
    firstPassCount: after === null ? 0 : after.duration.count - before.duration.count,
    firstPassInventoriesRead:
      inventories === null || before.inventories === null ? null : inventories.read - before.inventories.read,
    firstPassInventoriesHeld:
      inventories === null || before.inventories === null ? null : inventories.held - before.inventories.held,
  };
}
