import type { AgentApplyTimes } from './agent-reads.js';
import { cpuGroups, type CpuGroup } from './cpu.js';
import { qemuLoadSummary, type QemuLoadSummary, type QemuLoadTrace } from './qemu-load-trace.js';
import type { FloorRestoreTimeline } from './qemu-restore-floor.js';
import { percentile, ratio, summarize, type Summary } from './stats.js';
import type { VmmLogMarks } from './vmm-log-marks.js';

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
  /**
   * Where each restore in place's time went, one per round: its apply began once the Manager had
   * stopped its VMM; `acceptedAtMs` is when the restore request answered (the apply's end).
   */
  readonly restoreTimelines: readonly CloneTimeline[];
  /** Where each clone's time went, every clone of every round. */
  readonly cloneTimelines: readonly CloneTimeline[];
  /** CPU per clone of each process group from the request until every clone answered, one entry per round. */
  readonly cloneCpuMs: readonly Readonly<Record<CpuGroup, number>>[];
  /** Each restore of the clone rounds' floors, every guest of every round. */
  readonly cloneFloorTimelines: readonly FloorRestoreTimeline[];
  /** The doubles' CPU per second just after each clone round, its clones' guests running (one entry per round). */
  readonly doublesAtRestMsPerS: readonly number[];
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
  /** When the Agent received the apply and answered it, from its access log (absent: unread). */
  readonly agent?: AgentApplyTimes | undefined;
  /** The apply as the Manager timed it (`totalMs`): the Agent's steps and the round trips. */
  readonly applyMs: number;
  readonly steps: readonly { readonly name: string; readonly durationMs: number }[];
  /** When its new address first answered at all (any status or body): reachable, identity perhaps not yet written. */
  readonly firstAnswerAtMs?: number;
  /** When its guest wrote its new identity on its console (the console log's last change as it answered). */
  readonly identityAtMs?: number | undefined;
  readonly answeredAtMs: number;
  /** When its VMM received and finished the load and the resume, from the VMM's own log (absent: unread). */
  readonly vmm?: VmmLogMarks | undefined;
  /** Its QEMU from its double's trace: its start, its load and its CPU (absent: not traced). */
  readonly qemu?: QemuLoadTrace | undefined;
}

/** Steps of a clone's apply that run after the side-by-side tap, rootfs, spawn and egress, one after the other. */
const sequentialCloneSteps: ReadonlySet<string> = new Set(['logger', 'metrics', 'load', 'mmds', 'resume']);

/**
 * One clone's timeline as ms from the request: accepted, apply began, the Agent received it (with its
 * log read), the side-by-side steps done,
 * load began and done, resumed, the Agent answered (with its log read), the apply's end as the
 * Manager saw it, first answer, answered.
 * With the VMM's log read (`vmm`), the load and the resume are the VMM's own instants, and the
 * side-by-side steps ended the logger and metrics steps before the load; without it, they are
 * derived from the apply's end less its sequential steps, which counts the Agent's work outside any
 * step (its record read before the steps, its record write after the resume, its answer) as before
 * the load.
 */
export function cloneTimelineMarks(t: CloneTimeline): Readonly<Record<string, number>> {
  const durationOf = (name: string): number => t.steps.find((step) => step.name === name)?.durationMs ?? 0;
  const sequentialMs = t.steps
    .filter((step) => sequentialCloneSteps.has(step.name))
    .reduce((sum, step) => sum + step.durationMs, 0);
  const began = t.applyStartedAtMs - t.requestedAtMs;
  const ended = began + t.applyMs;
  const configureMs = durationOf('logger') + durationOf('metrics');
  const derivedLoadBegan = ended - sequentialMs + configureMs;
  const loadBegan = t.vmm === undefined ? derivedLoadBegan : t.vmm.loadRequestedAtMs - t.requestedAtMs;
  const loadDone = t.vmm === undefined ? derivedLoadBegan + durationOf('load') : t.vmm.loadDoneAtMs - t.requestedAtMs;
  const resumed = t.vmm?.resumedAtMs === undefined ? ended : t.vmm.resumedAtMs - t.requestedAtMs;
  return {
    accepted: t.acceptedAtMs - t.requestedAtMs,
    applyBegan: began,
    ...(t.agent === undefined ? {} : { agentReceived: t.agent.receivedAtMs - t.requestedAtMs }),
    sideBySideDone: loadBegan - configureMs,
    loadBegan,
    loadDone,
    resumed,
    ...(t.agent === undefined ? {} : { agentAnswered: t.agent.answeredAtMs - t.requestedAtMs }),
    applyEnded: ended,
    ...(t.identityAtMs === undefined ? {} : { identityWritten: t.identityAtMs - t.requestedAtMs }),
    firstAnswer: (t.firstAnswerAtMs ?? t.answeredAtMs) - t.requestedAtMs,
    answered: t.answeredAtMs - t.requestedAtMs,
  };
}

/** One phase of a restore, p50 over the clones and over QEMU alone's restores (ms). */
export interface PhasePair {
  readonly clone: number | null;
  readonly alone: number | null;
}

/**
 * The three phases both sides go through, p50 each: before the load (a clone: the request until
 * its load began, through admission, the apply's start and the side-by-side TAP, disk copy, VMM
 * start and guard; alone: TAP, disk copy, QEMU's spawn), the load (a clone: its load step; alone:
 * QEMU's spawn until it left `inmigrate`), and after the resume until the guest answered as
 * expected (a clone takes its new identity then; QEMU alone's guest keeps the source's).
 */
export function clonePhases(
  timelines: readonly CloneTimeline[],
  floor: readonly FloorRestoreTimeline[],
): Readonly<Record<'beforeLoad' | 'load' | 'afterResume' | 'identityAfterResume', PhasePair>> {
  const marks = timelines.map(cloneTimelineMarks);
  const p50 = (values: number[]): number | null => percentile(values, 50);
  return {
    beforeLoad: { clone: p50(marks.map((m) => m['loadBegan'] ?? 0)), alone: p50(floor.map((t) => t.spawnMs)) },
    load: {
      clone: p50(marks.map((m) => (m['loadDone'] ?? 0) - (m['loadBegan'] ?? 0))),
      alone: p50(floor.map((t) => t.incomingMs - t.spawnMs)),
    },
    afterResume: {
      clone: p50(marks.map((m) => (m['answered'] ?? 0) - (m['resumed'] ?? 0))),
      alone: p50(floor.map((t) => t.answeredMs - t.contMs)),
    },
    // Of that, a clone's guest until it wrote its new identity: the rest is the probe reaching it.
    identityAfterResume: {
      clone: p50(marks.flatMap((m) => (m['identityWritten'] === undefined ? [] : [m['identityWritten'] - (m['resumed'] ?? 0)]))),
      alone: null,
    },
  };
}

/** Medians over the clones of each mark of `cloneTimelineMarks`. */
export function cloneMarksP50(timelines: readonly CloneTimeline[]): Readonly<Record<string, number | null>> {
  const marks = timelines.map(cloneTimelineMarks);
  const names = Object.keys(marks[0] ?? {});
  return Object.fromEntries(
    names.map((name) => [
      name,
      percentile(
        marks.map((m) => m[name] ?? 0),
        50,
      ),
    ]),
  );
}

/** Medians over the floor's restores of each of its marks (ms from each restore's start). */
export function floorMarksP50(timelines: readonly FloorRestoreTimeline[]): Readonly<Record<string, number | null>> {
  const names = ['tapMs', 'copyMs', 'spawnMs', 'qmpMs', 'incomingMs', 'contMs', 'firstAnswerMs', 'answeredMs'] as const;
  return Object.fromEntries(
    names.map((name) => [
      name.replace(/Ms$/, ''),
      percentile(
        timelines.map((t) => t[name]),
        50,
      ),
    ]),
  );
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
  /** Restores via Hearth / restores by QEMU alone, summed over the rounds (target ≤ 1.2); null when either is missing. */
  readonly restoreRatio: number | null;
  readonly clones: Summary;
  readonly clonesFloor: Summary;
  /** The clone rounds via Hearth / the same rounds with QEMU alone, summed over the rounds. */
  readonly clonesRatio: number | null;
  readonly cloneBreakdown: CloneBreakdown;
  /** The same parts of the restores in place (`acceptP50Ms`: the restore request until it answered). */
  readonly restoreBreakdown: CloneBreakdown;
  /** Median over the rounds of each group's CPU per clone; null without clone rounds. */
  readonly cloneCpuMsP50: Readonly<Record<CpuGroup, number | null>> | null;
  /** Medians of each clone's marks (`cloneTimelineMarks`), ms from the request. */
  readonly cloneMarksP50: Readonly<Record<string, number | null>>;
  /** Medians of the floor's marks, ms from each restore's start. */
  readonly floorMarksP50: Readonly<Record<string, number | null>>;
  /** Where a clone and QEMU alone spent their time, phase by phase. */
  readonly clonePhases: ReturnType<typeof clonePhases>;
  /** QEMU itself in a clone and alone: its start, its load, its CPU and its wait for a core (p50). */
  readonly cloneQemu: { readonly clone: QemuLoadSummary; readonly alone: QemuLoadSummary };
  readonly cloneTimelines: readonly CloneTimeline[];
  readonly cloneFloorTimelines: readonly FloorRestoreTimeline[];
  /** Median of the doubles' CPU per second after each clone round. */
  readonly doublesAtRestMsPerS: number | null;
  readonly note: string;
}

/** Samples a run appends to as it goes: each array of `SnapshotSamples`, writable. */
export type SnapshotSampling = {
  -readonly [K in keyof SnapshotSamples]: SnapshotSamples[K] extends readonly (infer T)[] ? T[] : never;
};

/** Samples with nothing in them yet, each array a new one. */
export function freshSnapshotSamples(): SnapshotSampling {
  return {
    createMs: [],
    pauseMs: [],
    restoreMs: [],
    restoreFloorMs: [],
    clonesMs: [],
    clonesFloorMs: [],
    restoreTimelines: [],
    cloneTimelines: [],
    cloneCpuMs: [],
    cloneFloorTimelines: [],
    doublesAtRestMsPerS: [],
  };
}

export const emptySnapshotSamples: SnapshotSamples = freshSnapshotSamples();

/**
 * Medians (and the rest of each summary) and the two ratios against the floor. A ratio is of the
 * rounds' sums, each round measured on both sides: the bench alternates which side goes first
 * (the second runs on memory the first has just freed, which this host hands out much more cheaply),
 * so over an even number of rounds each side has gone first as often as second, and no one round's
 * order decides the figure, as a ratio of two medians of two rounds would.
 */
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
    restoreRatio: ratioOfSums(samples.restoreMs, samples.restoreFloorMs),
    clones,
    clonesFloor,
    clonesRatio: ratioOfSums(samples.clonesMs, samples.clonesFloorMs),
    cloneBreakdown: cloneBreakdown(samples.cloneTimelines),
    restoreBreakdown: cloneBreakdown(samples.restoreTimelines),
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
    cloneMarksP50: cloneMarksP50(samples.cloneTimelines),
    floorMarksP50: floorMarksP50(samples.cloneFloorTimelines),
    clonePhases: clonePhases(samples.cloneTimelines, samples.cloneFloorTimelines),
    cloneQemu: {
      clone: qemuLoadSummary(samples.cloneTimelines.map((t) => t.qemu)),
      alone: qemuLoadSummary(samples.cloneFloorTimelines.map((t) => t.qemu)),
    },
    cloneTimelines: samples.cloneTimelines,
    cloneFloorTimelines: samples.cloneFloorTimelines,
    doublesAtRestMsPerS: percentile([...samples.doublesAtRestMsPerS], 50),
    note,
  };
}

/** The sum of `measured` over the sum of `floor`, over the rounds both have; null when they have none. */
function ratioOfSums(measured: readonly number[], floor: readonly number[]): number | null {
  const rounds = Math.min(measured.length, floor.length);
  if (rounds === 0) return null;
  const sum = (values: readonly number[]): number => values.slice(0, rounds).reduce((total, value) => total + value, 0);
  return ratio(sum(measured), sum(floor));
}
