import { readdirSync, readFileSync } from 'node:fs';
import { readProcOrNull } from './machine.js';

/** Who used the CPU during a wave. `other` is the machine's total minus the named groups. */
export const cpuGroups = ['manager', 'agent', 'postgres', 'vmms', 'bench', 'other'] as const;
export type CpuGroup = (typeof cpuGroups)[number];

/** The clock ticks per second of /proc's counters (USER_HZ, 100 on every Linux we run on). */
const ticksPerSecond = 100;

export interface CpuSnapshot {
  /** Busy ticks of the whole machine (everything but idle and iowait) from /proc/stat. */
  readonly machineTicks: number;
  /** utime + stime per live process, with the group it belongs to. */
  readonly processes: ReadonlyMap<number, { readonly group: CpuGroup; readonly ticks: number }>;
}

export interface CpuPids {
  readonly manager: number | undefined;
  readonly agent: number | undefined;
}

/**
 * Reads every process's CPU time. Processes that start and exit between two snapshots (the
 * Agent's `ip` and `cp` children) are not seen, so their time lands in `other`, with the kernel's.
 */
export function cpuSnapshot(pids: CpuPids): CpuSnapshot {
  const processes = new Map<number, { group: CpuGroup; ticks: number }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    const stat = readProcOrNull(`/proc/${pid}/stat`);
    if (stat === null) continue;
    // comm is in parentheses and may hold spaces: the fields after it are space-separated.
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const fields = stat.slice(close + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    const group = classify(pid, comm, pids);
    if (group !== null) processes.set(pid, { group, ticks });
  }
  return { machineTicks: machineBusyTicks(), processes };
}

function classify(pid: number, comm: string, pids: CpuPids): CpuGroup | null {
  if (pid === pids.manager) return 'manager';
  if (pid === pids.agent) return 'agent';
  if (pid === process.pid) return 'bench';
  if (comm === 'postgres') return 'postgres';
  if (comm === 'node' || comm.startsWith('firecracker')) {
    const cmdline = readProcOrNull(`/proc/${pid}/cmdline`);
    if (cmdline?.includes('firecracker-double') === true) return 'vmms';
  }
  return null;
}

function machineBusyTicks(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
  // cpu user nice system idle iowait irq softirq steal ...
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  return [user, nice, system, irq, softirq, steal].reduce<number>((sum, value) => sum + (value ?? 0), 0);
}

/**
 * CPU milliseconds per group between two snapshots. A process seen only in `after` started during
 * the interval, so all of its time counts; one seen only in `before` is gone and cannot be counted.
 */
export function cpuMsBetween(before: CpuSnapshot, after: CpuSnapshot): Record<CpuGroup, number> {
  const ms = Object.fromEntries(cpuGroups.map((group) => [group, 0])) as Record<CpuGroup, number>;
  let named = 0;
  for (const [pid, now] of after.processes) {
    const then = before.processes.get(pid);
    const delta = then === undefined || then.group !== now.group ? now.ticks : Math.max(0, now.ticks - then.ticks);
    ms[now.group] += (delta * 1000) / ticksPerSecond;
    named += delta;
  }
  const machine = after.machineTicks - before.machineTicks;
  ms.other = (Math.max(0, machine - named) * 1000) / ticksPerSecond;
  return ms;
}
