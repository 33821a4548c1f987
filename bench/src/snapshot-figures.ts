import { ratio, summarize, type Summary } from './stats.js';

/** The guest of the snapshot figures. */
export const snapshotMemoryMib = 256;

/** What the snapshot section measured, one entry per round (milliseconds). */
export interface SnapshotSamples {
  /** Client-observed `POST /v1/vms/{id}/snapshots` of a running guest. */
  readonly createMs: readonly number[];
  /** `pauseMs` of each answer: how long the guest was paused for it. */
  readonly pauseMs: readonly number[];
  /** `POST /v1/vms/{id}/restore` → the guest answers `GET /identity` as itself. */
  readonly restoreMs: readonly number[];
  /** QEMU alone restoring the same files (`-incoming`) → the guest answers. */
  readonly restoreFloorMs: readonly number[];
  /** `POST /v1/vms` with `snapshotId` and `count` → every clone answers as itself. */
  readonly clonesMs: readonly number[];
  /** As many QEMUs restoring the same files at once → every one answers. */
  readonly clonesFloorMs: readonly number[];
}

export interface SnapshotResult {
  readonly memoryMib: number;
  readonly cloneCount: number;
  readonly create: Summary;
  readonly pause: Summary;
  readonly restore: Summary;
  readonly restoreFloor: Summary;
  /** Median restore via Hearth / median restore by QEMU alone (target ≤ 1.2); null when either is missing. */
  readonly restoreRatio: number | null;
  readonly clones: Summary;
  readonly clonesFloor: Summary;
  /** Median of the clone rounds via Hearth / median of the same rounds with QEMU alone. */
  readonly clonesRatio: number | null;
  readonly note: string;
}

export const emptySnapshotSamples: SnapshotSamples = {
  createMs: [],
  pauseMs: [],
  restoreMs: [],
  restoreFloorMs: [],
  clonesMs: [],
  clonesFloorMs: [],
};

/** Medians (and the rest of each summary) and the two ratios against the floor. */
export function snapshotFigures(
  samples: SnapshotSamples,
  shape: { memoryMib: number; cloneCount: number },
  note: string,
): SnapshotResult {
  const restore = summarize(samples.restoreMs);
  const restoreFloor = summarize(samples.restoreFloorMs);
  const clones = summarize(samples.clonesMs);
  const clonesFloor = summarize(samples.clonesFloorMs);
  return {
    ...shape,
    create: summarize(samples.createMs),
    pause: summarize(samples.pauseMs),
    restore,
    restoreFloor,
    restoreRatio: ratio(restore.p50, restoreFloor.p50),
    clones,
    clonesFloor,
    clonesRatio: ratio(clones.p50, clonesFloor.p50),
    note,
  };
}
