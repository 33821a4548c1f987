/**
 * An optional trace of the qemu backend's steps (FC_DOUBLE_TRACE_DIR, see config.ts): when QEMU
 * was started, when it answered on QMP, when an incoming migration ended and what QEMU had cost
 * by then. Firecracker has no such output; it is how the bench sees inside a restore.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export type QemuTraceStep = 'restore-began' | 'qemu-spawned' | 'qmp-ready' | 'migration-ended';

/** Records one step, stamped with the wall clock. */
export type QemuTrace = (step: QemuTraceStep, fields?: Readonly<Record<string, unknown>>) => void;

/** The wall clock in ms since the epoch, to the microsecond (`Date.now()` gives whole ms). */
export const wallClockMs = (): number => performance.timeOrigin + performance.now();

/**
 * A trace appended to `file`, one JSON line a step: `{"step", "atMs", ...fields}`. Written
 * synchronously (a few lines per restore), so a double killed with SIGKILL loses none. A file that
 * cannot be written is reported once on stderr, and the double goes on without its trace.
 */
export function fileTrace(file: string): QemuTrace {
  let isBroken = false;
  let hasDirectory = false;
  return (step, fields = {}) => {
    if (isBroken) return;
    try {
      if (!hasDirectory) mkdirSync(dirname(file), { recursive: true });
      hasDirectory = true;
      appendFileSync(file, `${JSON.stringify({ step, atMs: wallClockMs(), ...fields })}\n`);
    } catch (err) {
      isBroken = true;
      process.stderr.write(
        `firecracker-double: trace ${file} not written: ${err instanceof Error ? err.message : String(err)}\n`,
      );
    }
  };
}
