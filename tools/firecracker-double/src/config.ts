/**
 * The double's environment, read in one place. The binary (main.ts) reads it once at startup and
 * hands each component the value it needs; nothing else looks at `process.env`.
 *
 * - `FC_DOUBLE_BACKEND`: `simulated` (default) or `qemu`, the guest backend.
 * - `FC_DOUBLE_QEMU`: the QEMU binary of the qemu backend (default `qemu-system-x86_64`).
 * - `FC_DOUBLE_SKIP_TAP_CHECK=1`: accept any TAP name without looking at /sys/class/net
 *   (hosts without TAP devices).
 * - `PATH`: where the qemu backend looks for `setpriv` (QEMU dies with the double through it).
 * - `FC_DOUBLE_TRACE_DIR`: a directory where the qemu backend writes, one JSON line per step, when
 *   it started QEMU, when QEMU answered on QMP and when an incoming migration ended, with QEMU's
 *   CPU then (`<dir>/<instance id>.jsonl`). Unset: no trace. A measurement aid, not Firecracker's.
 */
/** The guest backends the double can run. */
export type BackendName = 'simulated' | 'qemu';

export interface DoubleConfig {
  readonly backend: BackendName;
  readonly qemuBinary: string;
  readonly isTapCheckSkipped: boolean;
  /** The directories of `PATH`, colon separated, as the process got them ('' without one). */
  readonly searchPath: string;
  /** Where the qemu backend traces its steps; undefined: it does not. */
  readonly traceDir: string | undefined;
}

export const DEFAULT_QEMU_BINARY = 'qemu-system-x86_64';

/** Parses the FC_DOUBLE_* variables; throws on an unknown backend name. */
export function loadDoubleConfig(env: Readonly<Record<string, string | undefined>>): DoubleConfig {
  const backend = env['FC_DOUBLE_BACKEND'] ?? 'simulated';
  if (backend !== 'simulated' && backend !== 'qemu') throw new Error(`unknown FC_DOUBLE_BACKEND: ${backend}`);
  return Object.freeze({
    backend,
    qemuBinary: env['FC_DOUBLE_QEMU'] ?? DEFAULT_QEMU_BINARY,
    isTapCheckSkipped: env['FC_DOUBLE_SKIP_TAP_CHECK'] === '1',
    searchPath: env['PATH'] ?? '',
    traceDir: env['FC_DOUBLE_TRACE_DIR'] || undefined,
  });
}
