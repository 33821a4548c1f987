/**
 * What a process has cost the machine so far, read from /proc: its CPU (every thread's) and the
 * run-queue wait of its main thread (QEMU loads an incoming migration on its main thread).
 */
import { readFileSync } from 'node:fs';

/** USER_HZ: the unit of /proc/<pid>/stat's utime and stime (100 on every Linux Hearth runs on). */
const TICKS_PER_SECOND = 100;

export interface ProcessTimes {
  /** utime + stime of all its threads, in ms (10 ms steps). */
  readonly cpuMs: number;
  /** Its main thread on a core, in ms (`/proc/<pid>/schedstat`). */
  readonly mainRunMs: number;
  /** Its main thread runnable but waiting for a core, in ms: the cost of what else runs. */
  readonly mainWaitMs: number;
}

/** `pid`'s times now; undefined when it is gone or the kernel keeps no schedstats. */
export function processTimes(pid: number): ProcessTimes | undefined {
  let stat: string;
  let schedstat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    schedstat = readFileSync(`/proc/${pid}/schedstat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name is in parentheses and may hold spaces: the fields after it are space-separated.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  const [runNs, waitNs] = schedstat.trim().split(' ').map(Number);
  if (!Number.isFinite(ticks) || runNs === undefined || waitNs === undefined) return undefined;
  return {
    cpuMs: (ticks * 1000) / TICKS_PER_SECOND,
    mainRunMs: Math.round(runNs / 1e6),
    mainWaitMs: Math.round(waitNs / 1e6),
  };
}
