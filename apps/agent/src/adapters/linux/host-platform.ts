import { createHash } from 'node:crypto';

/** What of the host's processor a snapshot's guest depends on: the model and the feature flags. */
export interface CpuIdentity {
  readonly cpuModel: string | null;
  /** SHA-256 of the first processor's flags, sorted and joined by spaces; null when none are listed. */
  readonly cpuFlagsSha256: string | null;
}

const maxModelLength = 256;

/**
 * The first processor's `model name` and `flags` of /proc/cpuinfo (every processor of a host that
 * can run a VMM has the same). The flags are digested: a guest restored on a CPU without one of
 * them may fault on its first use, so any difference counts.
 */
export function parseCpuinfo(text: string): CpuIdentity {
  const field = (key: string): string | null => {
    const match = new RegExp(`^${key}\\s*:\\s*(.*)$`, 'm').exec(text);
    const value = match?.[1]?.trim();
    return value === undefined || value === '' ? null : value;
  };
  const model = field('model name');
  const flags = field('flags');
  return {
    cpuModel: model === null ? null : model.slice(0, maxModelLength),
    cpuFlagsSha256:
      flags === null
        ? null
        : createHash('sha256')
            .update([...new Set(flags.split(/\s+/))].sort().join(' '))
            .digest('hex'),
  };
}

/** `v10.0.0` (what `firecracker --snapshot-version` prints) → `10.0.0`; null when it printed none. */
export function parseSnapshotFormatVersion(output: string): string | null {
  return /^v?(\d+\.\d+\.\d+)\s*$/m.exec(output)?.[1] ?? null;
}
