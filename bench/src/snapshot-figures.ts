import { cpuGroups, type CpuGroup } from './cpu.js';
import { percentile, ratio, summarize, type Summary } from './stats.js';

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
  /** Where each clone's time went, every clone of every round. */
  readonly cloneTimelines: readonly CloneTimeline[];
  /** CPU per clone of each process group from the request until every clone answered, one entry per round. */
  readonly cloneCpuMs: readonly Readonly<Record<CpuGroup, number>>[];
}

/**
 * One clone's time from the bench's `POST /v1/vms` until it answered as itself (epoch
 * milliseconds, one machine's clock): the Manager's start of its apply and the Agent's steps.
 */
export interface CloneTimeline {
  readonly requestedAtMs: number;
  /** When the `POST /v1/vms` (`?wait=false`) answered 202: the clones are admitted and recorded. */
  readonly acceptedAtMs: number;
  /** When the Manager began the clone's apply (its first step's `at`). */
  readonly applyStartedAtMs: number;
  /** The apply as the Manager timed it (`totalMs`): the Agent's steps and the round trips. */
  readonly applyMs: number;
  readonly steps: readonly { readonly name: string; readonly durationMs: number }[];
  readonly answeredAtMs: number;
}

/** Medians over the clones of where their time went (milliseconds). */
export interface CloneBreakdown {
  readonly count: number;
  /** The request until it answered 202: validation, placement, admission, the rows. */
  readonly acceptP50Ms: number | null;
  /** The request until the clone's apply began: the above, its transition to starting, the queue. */
  readonly beforeApplyP50Ms: number | null;
  readonly applyP50Ms: number | null;
  /** The apply's end until the guest answered as itself: its MMDS poll and its new identity. */
  readonly guestP50Ms: number | null;
  /** Each step of the Agent's apply. */
  readonly stepsP50Ms: Readonly<Record<string, number | null>>;
}

/** Medians of each part of the clones' timelines; null parts when there are none. */
export function cloneBreakdown(timelines: readonly CloneTimeline[]): CloneBreakdown {
  const stepNames = [...new Set(timelines.flatMap((t) => t.steps.map((step) => step.name)))];
  return {
    count: timelines.length,
    acceptP50Ms: percentile(
      timelines.map((t) => t.acceptedAtMs - t.requestedAtMs),
      50,
    ),
    beforeApplyP50Ms: percentile(
      timelines.map((t) => t.applyStartedAtMs - t.requestedAtMs),
      50,
    ),
    applyP50Ms: percentile(
      timelines.map((t) => t.applyMs),
      50,
    ),
    guestP50Ms: percentile(
      timelines.map((t) => t.answeredAtMs - (t.applyStartedAtMs + t.applyMs)),
      50,
    ),
    stepsP50Ms: Object.fromEntries(
      stepNames.map((name) => [
        name,
        percentile(
          timelines.flatMap((t) => t.steps.filter((step) => step.name === name).map((step) => step.durationMs)),
          50,
        ),
      ]),
    ),
  };
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
  readonly cloneBreakdown: CloneBreakdown;
  /** Median over the rounds of each group's CPU per clone; null without clone rounds. */
  readonly cloneCpuMsP50: Readonly<Record<CpuGroup, number | null>> | null;
  readonly note: string;
}

export const emptySnapshotSamples: SnapshotSamples = {
  createMs: [],
  pauseMs: [],
  restoreMs: [],
  restoreFloorMs: [],
  clonesMs: [],
  clonesFloorMs: [],
  cloneTimelines: [],
  cloneCpuMs: [],
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
    cloneBreakdown: cloneBreakdown(samples.cloneTimelines),
    cloneCpuMsP50:
      samples.cloneCpuMs.length === 0
        ? null
        : (Object.fromEntries(
            cpuGroups.map((group) => [
              group,
              percentile(
                samples.cloneCpuMs.map((round) => round[group]),
                50,
              ),
            ]),
          ) as Record<CpuGroup, number | null>),
    note,
  };
}
