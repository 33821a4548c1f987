import { readProcFile } from '../linux/proc-file.js';

export interface ProcStat {
  /** R, S, D, Z, T, X, ... */
  readonly state: string;
  /** Field 22: start time in clock ticks since boot. */
  readonly startTime: number;
}

/**
 * Parses /proc/<pid>/stat; `comm` (field 2) may contain spaces and parentheses, so the fields are
 * read after the last `)`, where the kernel separates them with one space each. Only fields 3
 * (state) and 22 (start time) are cut out: the inventory reads this file for every VMM at every
 * pass, and splitting the whole line made some fifty strings and an array each time.
 */
export function parseProcStat(text: string): ProcStat | undefined {
  const end = text.lastIndexOf(')');
  if (end < 0) return undefined;
  const stateStart = end + 2;
  const stateEnd = text.indexOf(' ', stateStart);
  if (stateEnd <= stateStart) return undefined;
  // Field 22 starts after the eighteenth space past the state (field 3).
  let fieldStart = stateEnd + 1;
  for (let field = 4; field < 22; field++) {
    const next = text.indexOf(' ', fieldStart);
    if (next < 0) return undefined;
    fieldStart = next + 1;
  }
  const fieldEnd = text.indexOf(' ', fieldStart);
  const startTimeText = text.slice(fieldStart, fieldEnd < 0 ? text.length : fieldEnd).trim();
  const startTime = Number(startTimeText);
  if (startTimeText === '' || !Number.isFinite(startTime)) return undefined;
  return { state: text.slice(stateStart, stateEnd), startTime };
}

/** The state and start time of a process, or undefined when it is gone. */
export function readProcStat(pid: number): Promise<ProcStat | undefined> {
  try {
    return Promise.resolve(parseProcStat(readProcFile(`/proc/${pid}/stat`)));
  } catch {
    return Promise.resolve(undefined);
  }
}
