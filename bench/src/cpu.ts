import { readdirSync, readFileSync } from 'node:fs';
import { readProcOrNull } from './machine.js';

/**
 * Who used the CPU during a wave. `agent-children` is what the Agent runs besides the VMMs (`ip`,
 * `cp`, `mkfifo`, `nft`, `systemd-run`…): the live ones by their own counters, the ones that ended
 * by the Agent's cutime/cstime. `other` is the machine's total minus the named groups.
 */
export const cpuGroups = ['manager', 'agent', 'agent-children', 'postgres', 'vmms', 'bench', 'other'] as const;
export type CpuGroup = (typeof cpuGroups)[number];

/** The groups that make up the control plane's own cost: everything but the VMMs, the bench and the rest of the machine. */
export const controlPlaneGroups = ['manager', 'agent', 'agent-children', 'postgres'] as const satisfies readonly CpuGroup[];

/** The clock ticks per second of /proc's counters (USER_HZ, 100 on every Linux we run on). */
const ticksPerSecond = 100;

export interface CpuSnapshot {
  /** Busy ticks of the whole machine (everything but idle and iowait) from /proc/stat. */
  readonly machineTicks: number;
  /**
   * utime + stime per live process, with the group it belongs to; a child of the Agent also with
   * what it is (`childCommandOf`).
   */
  readonly processes: ReadonlyMap<number, { readonly group: CpuGroup; readonly ticks: number; readonly command?: string }>;
  /** cutime + cstime of the Manager and the Agent: children they waited for after those ended. */
  readonly reapedTicks: { readonly manager: number; readonly agent: number };
}

export interface CpuPids {
  readonly manager: number | undefined;
  readonly agent: number | undefined;
  /**
   * The port of the bench's PostgreSQL server: only its postmaster (started with `-p <port>`) and
   * that postmaster's children count as `postgres`, not the servers of other tenants of the machine.
   * Without it, or when no local postmaster has that port, every `postgres` process counts.
   */
  readonly postgresPort?: number | undefined;
}

interface ProcStat {
  readonly comm: string;
  readonly ppid: number;
  readonly ticks: number;
  readonly reapedTicks: number;
}

function readStat(pid: number): ProcStat | null {
  const stat = readProcOrNull(`/proc/${pid}/stat`);
  if (stat === null) return null;
  // comm is in parentheses and may hold spaces: the fields after it are space-separated.
  const close = stat.lastIndexOf(')');
  const fields = stat.slice(close + 2).split(' ');
  return {
    comm: stat.slice(stat.indexOf('(') + 1, close),
    ppid: Number(fields[1]),
    ticks: Number(fields[11]) + Number(fields[12]),
    reapedTicks: Number(fields[13]) + Number(fields[14]),
  };
}

/**
 * Reads every process's CPU time. A child of the Agent or the Manager that starts and ends between
 * two snapshots is counted through its parent's cutime/cstime (Node waits for its children), so
 * the Agent's short-lived `ip` and `cp` are counted, not left in `other`. A VMM that ends inside
 * the interval would be counted there too: a wave starts only when no VMM is left (`vmmCount`).
 */
export function cpuSnapshot(pids: CpuPids): CpuSnapshot {
  const processes = new Map<number, { group: CpuGroup; ticks: number; command?: string }>();
  const reapedTicks = { manager: 0, agent: 0 };
  const stats = new Map<number, ProcStat>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (stat !== null) stats.set(Number(entry), stat);
  }
  const postmaster = postmasterOf(stats, pids.postgresPort);
  for (const [pid, stat] of stats) {
    if (pid === pids.manager) reapedTicks.manager = stat.reapedTicks;
    if (pid === pids.agent) reapedTicks.agent = stat.reapedTicks;
    const group = classify(pid, stat, pids, postmaster, stats);
    if (group === 'agent-children') {
      processes.set(pid, {
        group,
        ticks: stat.ticks,
        command: childCommandOf(readProcOrNull(`/proc/${pid}/cmdline`) ?? stat.comm),
      });
    } else if (group !== null) processes.set(pid, { group, ticks: stat.ticks });
  }
  return { machineTicks: machineBusyTicks(), processes, reapedTicks };
}

/** How many VMMs (doubles) of this bench are alive, the Agent's and the floor's. */
export function vmmCount(snapshot: CpuSnapshot): number {
  return [...snapshot.processes.values()].filter((process) => process.group === 'vmms').length;
}

/** The pid of the postmaster started with `-p <port>`, or null (every postgres process then counts). */
function postmasterOf(stats: ReadonlyMap<number, ProcStat>, port: number | undefined): number | null {
  if (port === undefined) return null;
  for (const [pid, stat] of stats) {
    if (stat.comm !== 'postgres') continue;
    const argv = (readProcOrNull(`/proc/${pid}/cmdline`) ?? '').split('\0');
    const at = argv.indexOf('-p');
    if (at >= 0 && argv[at + 1] === String(port)) return pid;
  }
  return null;
}

/**
 * Whether `pid` descends from one of `ancestors`: only the VMMs of this bench's Agent and of its
 * floor are its own; other tenants of the machine run doubles too.
 */
export function isDescendantOf(
  pid: number,
  stats: ReadonlyMap<number, Pick<ProcStat, 'ppid'>>,
  ancestors: readonly (number | undefined)[],
): boolean {
  let current = stats.get(pid)?.ppid;
  for (let depth = 0; current !== undefined && current > 1 && depth < 8; depth++) {
    if (ancestors.includes(current)) return true;
    current = stats.get(current)?.ppid;
  }
  return false;
}

function classify(
  pid: number,
  stat: ProcStat,
  pids: CpuPids,
  postmaster: number | null,
  stats: ReadonlyMap<number, ProcStat>,
): CpuGroup | null {
  if (pid === pids.manager) return 'manager';
  if (pid === pids.agent) return 'agent';
  if (pid === process.pid) return 'bench';
  if (stat.comm === 'postgres' && (postmaster === null || pid === postmaster || stat.ppid === postmaster)) return 'postgres';
  if ((stat.comm === 'node' || stat.comm.startsWith('firecracker')) && isDescendantOf(pid, stats, [pids.agent, process.pid])) {
    const cmdline = readProcOrNull(`/proc/${pid}/cmdline`);
    if (cmdline?.includes('firecracker-double') === true) return 'vmms';
  }
  if (pids.agent !== undefined && stat.ppid === pids.agent) return 'agent-children';
  return null;
}

function machineBusyTicks(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
  // cpu user nice system idle iowait irq softirq steal ...
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  return [user, nice, system, irq, softirq, steal].reduce<number>((sum, value) => sum + (value ?? 0), 0);
}

function toMs(ticks: number): number {
  return (ticks * 1000) / ticksPerSecond;
}

/**
 * A live process's ticks since `then`, its entry in the earlier snapshot: all of them when it was not
 * there (it started since) or was in another group (its pid was reused).
 */
function ticksSince(
  then: { readonly group: CpuGroup; readonly ticks: number } | undefined,
  now: { readonly group: CpuGroup; readonly ticks: number },
): number {
  return then === undefined || then.group !== now.group ? now.ticks : Math.max(0, now.ticks - then.ticks);
}

/**
 * CPU milliseconds per group between two snapshots. A process seen only in `after` started during
 * the interval, so all of its time counts; one seen only in `before` is gone and cannot be counted
 * (unless its parent is the Agent or the Manager: then it is in their reaped time).
 */
export function cpuMsBetween(before: CpuSnapshot, after: CpuSnapshot): Record<CpuGroup, number> {
  const ms = Object.fromEntries(cpuGroups.map((group) => [group, 0])) as Record<CpuGroup, number>;
  let named = 0;
  for (const [pid, now] of after.processes) {
    const then = before.processes.get(pid);
    const delta = ticksSince(then, now);
    ms[now.group] += toMs(delta);
    named += delta;
  }
  const reapedByAgent = Math.max(0, after.reapedTicks.agent - before.reapedTicks.agent);
  const reapedByManager = Math.max(0, after.reapedTicks.manager - before.reapedTicks.manager);
  ms['agent-children'] += toMs(reapedByAgent);
  ms.manager += toMs(reapedByManager);
  named += reapedByAgent + reapedByManager;
  const machine = after.machineTicks - before.machineTicks;
  ms.other = toMs(Math.max(0, machine - named));
  return ms;
}

/**
 * What a child of the Agent is, from its command line (NUL-separated): the program, and `-j` when
 * it answers JSON. The Agent's long-lived helpers are then told apart: `ip` (its link changes),
 * `ip -j` (its reads of the links), `nft -j` (its firewall session).
 */
export function childCommandOf(cmdline: string): string {
  const argv = cmdline.split('\0').filter((part) => part !== '');
  const program = (argv[0] ?? '?').split('/').at(-1) ?? '?';
  return argv.includes('-j') ? `${program} -j` : program;
}

/** What the Agent's children that ended between two snapshots are called in `agentChildrenMsBetween`. */
export const endedChildren = 'ended';

/**
 * The Agent's children's CPU milliseconds between two snapshots, by what each live one is
 * (`childCommandOf`), and those that ended (its reaped time) under `endedChildren`: the parts of
 * `cpuMsBetween`'s `agent-children`.
 */
export function agentChildrenMsBetween(before: CpuSnapshot, after: CpuSnapshot): Record<string, number> {
  const ms: Record<string, number> = {};
  for (const [pid, now] of after.processes) {
    if (now.group !== 'agent-children') continue;
    const then = before.processes.get(pid);
    const delta = ticksSince(then, now);
    const command = now.command ?? '?';
    ms[command] = (ms[command] ?? 0) + toMs(delta);
  }
  ms[endedChildren] = toMs(Math.max(0, after.reapedTicks.agent - before.reapedTicks.agent));
  return ms;
}

/** The control plane's CPU milliseconds: the sum of `controlPlaneGroups`. */
export function controlPlaneMs(ms: Readonly<Record<CpuGroup, number>>): number {
  return controlPlaneGroups.reduce((sum, group) => sum + ms[group], 0);
}

/** CPU milliseconds per second of each group, over an interval of `seconds` (the rate at rest). */
export function msPerSecond(ms: Readonly<Record<CpuGroup, number>>, seconds: number): Record<CpuGroup, number> {
  return Object.fromEntries(cpuGroups.map((group) => [group, ms[group] / seconds])) as Record<CpuGroup, number>;
}

/** CPU milliseconds of each group per item (a VM created, a clone) over `count` items. */
export function msPerItem(ms: Readonly<Record<CpuGroup, number>>, count: number): Record<CpuGroup, number> {
  return Object.fromEntries(cpuGroups.map((group) => [group, ms[group] / count])) as Record<CpuGroup, number>;
}

/**
 * The control plane's CPU per create beyond what it spends at rest: the wave's CPU less the
 * background rate (heartbeats, resyncs, GC of an idle process) over the wave's duration, per VM
 * created. At concurrency 1 a create lasts about a second, so the background weighs about as much
 * as the creates themselves; this share is what more creates cost.
 */
export function marginalControlPlaneMs(
  waveMs: Readonly<Record<CpuGroup, number>>,
  backgroundMsPerSecond: Readonly<Record<CpuGroup, number>>,
  waveSeconds: number,
  created: number,
): number {
  if (created === 0) return 0;
  const waveControlPlane = controlPlaneMs(waveMs);
  const background = controlPlaneMs(backgroundMsPerSecond) * waveSeconds;
  return Math.max(0, waveControlPlane - background) / created;
}

/** What a thread did, from `/proc/<pid>/schedstat` (milliseconds since it started). */
export interface ThreadTimes {
  /** Time on a core. */
  readonly runMs: number;
  /** Time runnable but waiting for a core (the machine's other work, or its own threads). */
  readonly waitMs: number;
}

/**
 * The run and run-queue wait of a process's main thread (`self` for the bench's own); null when
 * the process is gone or the kernel keeps no schedstats. The main thread is where a Node process
 * runs its JavaScript and its garbage collector's pauses, so a request's wait on it is its cost.
 */
export function threadTimes(pid: number | 'self' | undefined): ThreadTimes | null {
  if (pid === undefined) return null;
  const fields = readProcOrNull(`/proc/${pid}/schedstat`)?.split(' ');
  if (fields === undefined || fields.length < 2) return null;
  return { runMs: Number(fields[0]) / 1e6, waitMs: Number(fields[1]) / 1e6 };
}
