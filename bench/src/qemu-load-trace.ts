import { readFileSync } from 'node:fs';
import type { ProcessTimes } from '@hearth/firecracker-double';
import { percentile } from './stats.js';

/**
 * One QEMU's restore, seen from inside: when it was started, when it answered on QMP (its own
 * start done), when its incoming migration ended (epoch ms), and what it had cost then and once its
 * guest answered as expected (`processTimes`: its CPU, and its main thread's time on a core and
 * waiting for one). The same for a clone's QEMU (from its double's trace, FC_DOUBLE_TRACE_DIR) and
 * for QEMU alone's, so that a slower load says whether QEMU did more work or waited for a core.
 */
export interface QemuLoadTrace {
  readonly pid: number;
  readonly spawnedAtMs: number;
  readonly qmpAtMs: number;
  readonly loadEndedAtMs: number;
  readonly atLoadEnd: ProcessTimes | undefined;
  readonly atAnswer?: ProcessTimes | undefined;
}

interface TraceLine {
  readonly step?: unknown;
  readonly atMs?: unknown;
  readonly pid?: unknown;
  readonly cpuMs?: unknown;
  readonly mainRunMs?: unknown;
  readonly mainWaitMs?: unknown;
}

const numberOr = (value: unknown): number | undefined =>
  typeof value === 'number' && Number.isFinite(value) ? value : undefined;

/**
 * The last restore in a double's trace file (one JSON line a step, see the double's qemu-trace.ts);
 * undefined when the file is missing or holds no finished load.
 */
export function readDoubleTrace(file: string): QemuLoadTrace | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  return doubleTraceOf(text);
}

/** `readDoubleTrace` on the file's text. */
export function doubleTraceOf(text: string): QemuLoadTrace | undefined {
  let pid: number | undefined;
  let spawnedAtMs: number | undefined;
  let qmpAtMs: number | undefined;
  let ended: QemuLoadTrace | undefined;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    let entry: TraceLine;
    try {
      entry = JSON.parse(line) as TraceLine;
    } catch {
      continue;
    }
    const atMs = numberOr(entry.atMs);
    if (atMs === undefined) continue;
    switch (entry.step) {
      case 'restore-began':
        [pid, spawnedAtMs, qmpAtMs, ended] = [undefined, undefined, undefined, undefined];
        break;
      case 'qemu-spawned':
        pid = numberOr(entry.pid);
        spawnedAtMs = atMs;
        break;
      case 'qmp-ready':
        qmpAtMs = atMs;
        break;
      case 'migration-ended': {
        if (pid === undefined || spawnedAtMs === undefined || qmpAtMs === undefined) break;
        const cpuMs = numberOr(entry.cpuMs);
        const mainRunMs = numberOr(entry.mainRunMs);
        const mainWaitMs = numberOr(entry.mainWaitMs);
        const atLoadEnd =
          cpuMs === undefined || mainRunMs === undefined || mainWaitMs === undefined
            ? undefined
            : { cpuMs, mainRunMs, mainWaitMs };
        ended = { pid, spawnedAtMs, qmpAtMs, loadEndedAtMs: atMs, atLoadEnd };
        break;
      }
      default:
        break;
    }
  }
  return ended;
}

/** Medians over QEMUs of their start, their load and what they cost (ms); null where none had it. */
export interface QemuLoadSummary {
  readonly count: number;
  /** Spawned until it answered on QMP. */
  readonly startMs: number | null;
  /** Answered on QMP until its incoming migration ended. */
  readonly loadMs: number | null;
  /** Its CPU when its migration ended (from its spawn: its own start and the load). */
  readonly cpuAtLoadEndMs: number | null;
  /** Its main thread waiting for a core until then. */
  readonly mainWaitAtLoadEndMs: number | null;
  /** Its CPU when its guest answered as expected (after the resume, the guest's work too). */
  readonly cpuAtAnswerMs: number | null;
}

export function qemuLoadSummary(traces: readonly (QemuLoadTrace | undefined)[]): QemuLoadSummary {
  const known = traces.filter((trace): trace is QemuLoadTrace => trace !== undefined);
  const p50 = (values: (number | undefined)[]): number | null =>
    percentile(
      values.filter((value): value is number => value !== undefined),
      50,
    );
  return {
    count: known.length,
    startMs: p50(known.map((t) => t.qmpAtMs - t.spawnedAtMs)),
    loadMs: p50(known.map((t) => t.loadEndedAtMs - t.qmpAtMs)),
    cpuAtLoadEndMs: p50(known.map((t) => t.atLoadEnd?.cpuMs)),
    mainWaitAtLoadEndMs: p50(known.map((t) => t.atLoadEnd?.mainWaitMs)),
    cpuAtAnswerMs: p50(known.map((t) => t.atAnswer?.cpuMs)),
  };
}
