import { readProcFile } from '../linux/proc-file.js';

export interface ProcStat {
  /** R, S, D, Z, T, X, ... */
  readonly state: string;
  /** Field 22: start time in clock ticks since boot. */
  readonly startTime: number;
}

/** Parses /proc/<pid>/stat; `comm` (field 2) may contain spaces and parentheses, so split after the last `)`. */
export function parseProcStat(text: string): ProcStat | undefined {
  const end = text.lastIndexOf(')');
  if (end < 0) return undefined;
  const fields = text
    .slice(end + 2)
    .trim()
    .split(/\s+/);
  // fields[0] is field 3 (state); field 22 is fields[19].
  const state = fields[0];
  const startTime = Number(fields[19]);
  if (state === undefined || !Number.isFinite(startTime)) return undefined;
  return { state, startTime };
}

/** The state and start time of a process, or undefined when it is gone. */
export function readProcStat(pid: number): Promise<ProcStat | undefined> {
  try {
    return Promise.resolve(parseProcStat(readProcFile(`/proc/${pid}/stat`)));
  } catch {
    return Promise.resolve(undefined);
  }
}
