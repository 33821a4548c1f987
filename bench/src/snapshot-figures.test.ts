import { describe, expect, it } from 'vitest';
import { cpuGroups, type CpuGroup } from './cpu.js';
import {
  cloneBreakdown,
  clonePhases,
  cloneTimelineMarks,
  emptySnapshotSamples,
  floorMarksP50,
  snapshotFigures,
} from './snapshot-figures.js';

const shape = { memoryMib: 256, cloneCount: 10 };

/** CPU per clone of each group: the ones given, 0 for the rest. */
function cpu(ms: Partial<Record<CpuGroup, number>>): Record<CpuGroup, number> {
  return Object.fromEntries(cpuGroups.map((group) => [group, ms[group] ?? 0])) as Record<CpuGroup, number>;
}

describe('snapshotFigures', () => {
  it('reports the median of each sample and the ratios of the rounds against the floor', () => {
    const result = snapshotFigures(
      {
        createMs: [900, 700, 800],
        pauseMs: [400, 600, 500],
        restoreMs: [1_300, 1_100, 1_200],
        restoreFloorMs: [1_000, 900, 1_100],
        clonesMs: [6_000, 4_000, 5_000],
        clonesFloorMs: [2_000, 2_500, 3_000],
        restoreTimelines: [],
        cloneTimelines: [],
        cloneCpuMs: [cpu({ agent: 30, manager: 9 }), cpu({ agent: 10, manager: 7 }), cpu({ agent: 20, manager: 8 })],
        cloneFloorTimelines: [],
        doublesAtRestMsPerS: [120, 80, 100],
      },
      shape,
      'measured',
    );
    expect(result.create.p50).toBe(800);
    expect(result.pause.p50).toBe(500);
    expect(result.restore.p50).toBe(1_200);
    expect(result.restoreFloor.p50).toBe(1_000);
    expect(result.restoreRatio).toBeCloseTo(1.2, 10);
    expect(result.clones.p50).toBe(5_000);
    expect(result.clonesFloor.p50).toBe(2_500);
    expect(result.clonesRatio).toBeCloseTo(2, 10);
    expect(result.cloneCpuMsP50).toMatchObject({ agent: 20, manager: 8, postgres: 0 });
    expect(result.doublesAtRestMsPerS).toBe(100);
    expect(result).toMatchObject({ memoryMib: 256, cloneCount: 10, note: 'measured' });
  });

  it('takes each ratio over the sums of the rounds, so that no one round (and the order of its two sides) decides it', () => {
    const result = snapshotFigures(
      {
        ...emptySnapshotSamples,
        // Round 1: Hearth first (its side on cold memory); round 2: QEMU alone first.
        restoreMs: [900, 600],
        restoreFloorMs: [500, 700],
        clonesMs: [9_000, 6_000],
        clonesFloorMs: [4_500, 5_500],
      },
      shape,
      'measured',
    );
    expect(result.restoreRatio).toBeCloseTo(1_500 / 1_200, 10);
    expect(result.clonesRatio).toBeCloseTo(15_000 / 10_000, 10);
  });

  it('splits each restore in place as it splits a clone: before its apply, the apply and its steps, its guest', () => {
    const result = snapshotFigures(
      {
        ...emptySnapshotSamples,
        restoreMs: [1_400],
        restoreTimelines: [
          {
            requestedAtMs: 1_000,
            acceptedAtMs: 2_100,
            applyStartedAtMs: 1_300,
            applyMs: 800,
            steps: [{ name: 'load', durationMs: 500 }],
            answeredAtMs: 2_400,
          },
        ],
      },
      shape,
      'measured',
    );
    expect(result.restoreBreakdown).toEqual({
      count: 1,
      acceptP50Ms: 1_100,
      beforeApplyP50Ms: 300,
      applyP50Ms: 800,
      guestP50Ms: 300,
      stepsP50Ms: { load: 500 },
    });
    expect(result.cloneBreakdown.count).toBe(0);
  });

  it('has no ratio when the floor was not measured', () => {
    const result = snapshotFigures({ ...emptySnapshotSamples, restoreMs: [1_000], clonesMs: [3_000] }, shape, 'no floor');
    expect(result.restore.p50).toBe(1_000);
    expect(result.restoreRatio).toBeNull();
    expect(result.clonesRatio).toBeNull();
    expect(result.cloneCpuMsP50).toBeNull();
  });
});

describe('cloneBreakdown', () => {
  it('splits each clone into the wait before its apply, the apply with its steps, and its guest, as medians', () => {
    const clone = (applyStartedAtMs: number, applyMs: number, spawnMs: number, answeredAtMs: number) => ({
      requestedAtMs: 1_000,
      acceptedAtMs: 1_050,
      applyStartedAtMs,
      applyMs,
      steps: [
        { name: 'tap', durationMs: 50 },
        { name: 'spawn', durationMs: spawnMs },
      ],
      answeredAtMs,
    });
    const parts = cloneBreakdown([
      clone(1_100, 2_000, 700, 4_000),
      clone(1_300, 3_000, 900, 6_000),
      clone(1_200, 2_500, 800, 5_000),
    ]);
    expect(parts.count).toBe(3);
    expect(parts.acceptP50Ms).toBe(50);
    expect(parts.beforeApplyP50Ms).toBe(200);
    expect(parts.applyP50Ms).toBe(2_500);
    // 4,000 - 3,100, 6,000 - 4,300 and 5,000 - 3,700.
    expect(parts.guestP50Ms).toBe(1_300);
    expect(parts.stepsP50Ms).toEqual({ tap: 50, spawn: 800 });
  });

  it('has no figures without clones', () => {
    expect(cloneBreakdown([])).toEqual({
      count: 0,
      acceptP50Ms: null,
      beforeApplyP50Ms: null,
      applyP50Ms: null,
      guestP50Ms: null,
      stepsP50Ms: {},
    });
  });
});

describe('cloneTimelineMarks', () => {
  it('places the side-by-side steps, the load, the resume and the answers on one line from the request', () => {
    const marks = cloneTimelineMarks({
      requestedAtMs: 1_000,
      acceptedAtMs: 1_100,
      applyStartedAtMs: 1_300,
      // The side-by-side steps overlap: what is not sequential is the 1,500 ms before the logger.
      applyMs: 1_500 + 10 + 20 + 4_000 + 30 + 40,
      steps: [
        { name: 'tap', durationMs: 200 },
        { name: 'rootfs', durationMs: 1_000 },
        { name: 'spawn', durationMs: 1_400 },
        { name: 'logger', durationMs: 10 },
        { name: 'metrics', durationMs: 20 },
        { name: 'load', durationMs: 4_000 },
        { name: 'mmds', durationMs: 30 },
        { name: 'resume', durationMs: 40 },
      ],
      identityAtMs: 8_800,
      firstAnswerAtMs: 9_000,
      answeredAtMs: 9_500,
    });
    expect(marks).toEqual({
      accepted: 100,
      applyBegan: 300,
      sideBySideDone: 1_800,
      loadBegan: 1_830,
      loadDone: 5_830,
      resumed: 5_900,
      applyEnded: 5_900,
      identityWritten: 7_800,
      firstAnswer: 8_000,
      answered: 8_500,
    });
  });

  it("takes the load and the resume from the VMM's log and the apply's receipt and answer from the Agent's when read, and what no step covers is not before the load", () => {
    const marks = cloneTimelineMarks({
      requestedAtMs: 1_000,
      acceptedAtMs: 1_100,
      applyStartedAtMs: 1_300,
      // 200 ms of the apply are no step: 50 before the steps, 150 after the resume.
      applyMs: 50 + 1_400 + 10 + 20 + 4_000 + 30 + 40 + 150,
      steps: [
        { name: 'tap', durationMs: 200 },
        { name: 'rootfs', durationMs: 1_000 },
        { name: 'spawn', durationMs: 1_400 },
        { name: 'logger', durationMs: 10 },
        { name: 'metrics', durationMs: 20 },
        { name: 'load', durationMs: 4_000 },
        { name: 'mmds', durationMs: 30 },
        { name: 'resume', durationMs: 40 },
      ],
      vmm: { loadRequestedAtMs: 1_000 + 300 + 50 + 1_400 + 30, loadDoneAtMs: 1_000 + 5_785, resumedAtMs: 1_000 + 5_850 },
      agent: { receivedAtMs: 1_000 + 340, answeredAtMs: 1_000 + 5_990 },
      answeredAtMs: 9_500,
    });
    expect(marks).toEqual({
      accepted: 100,
      applyBegan: 300,
      agentReceived: 340,
      sideBySideDone: 1_750,
      loadBegan: 1_780,
      loadDone: 5_785,
      resumed: 5_850,
      agentAnswered: 5_990,
      applyEnded: 6_000,
      firstAnswer: 8_500,
      answered: 8_500,
    });
  });

  it('takes the first answer to be the answer when the probe did not say', () => {
    const marks = cloneTimelineMarks({
      requestedAtMs: 0,
      acceptedAtMs: 10,
      applyStartedAtMs: 20,
      applyMs: 100,
      steps: [],
      answeredAtMs: 500,
    });
    expect(marks.firstAnswer).toBe(500);
  });
});

describe('floorMarksP50', () => {
  it('gives the median of each mark of QEMU alone', () => {
    const restore = (scale: number) => ({
      startedAtMs: 0,
      tapMs: 10 * scale,
      copyMs: 20 * scale,
      spawnMs: 30 * scale,
      qmpMs: 40 * scale,
      incomingMs: 50 * scale,
      contMs: 60 * scale,
      firstAnswerMs: 70 * scale,
      answeredMs: 70 * scale,
    });
    expect(floorMarksP50([restore(1), restore(3), restore(2)])).toEqual({
      tap: 20,
      copy: 40,
      spawn: 60,
      qmp: 80,
      incoming: 100,
      cont: 120,
      firstAnswer: 140,
      answered: 140,
    });
  });
});

describe('clonePhases', () => {
  it('sets each phase of the clones beside the same phase of QEMU alone', () => {
    const clone = {
      requestedAtMs: 0,
      acceptedAtMs: 100,
      applyStartedAtMs: 200,
      applyMs: 1_000 + 3_000 + 50,
      steps: [
        { name: 'spawn', durationMs: 1_000 },
        { name: 'load', durationMs: 3_000 },
        { name: 'resume', durationMs: 50 },
      ],
      identityAtMs: 5_750,
      answeredAtMs: 6_250,
    };
    const alone = {
      startedAtMs: 0,
      tapMs: 100,
      copyMs: 200,
      spawnMs: 300,
      qmpMs: 2_900,
      incomingMs: 3_000,
      contMs: 3_010,
      firstAnswerMs: 4_010,
      answeredMs: 4_010,
    };
    expect(clonePhases([clone], [alone])).toEqual({
      beforeLoad: { clone: 1_200, alone: 300 },
      load: { clone: 3_000, alone: 2_700 },
      afterResume: { clone: 2_000, alone: 1_000 },
      identityAfterResume: { clone: 1_500, alone: null },
    });
  });

  it('has no figures without samples', () => {
    expect(clonePhases([], [])).toEqual({
      beforeLoad: { clone: null, alone: null },
      load: { clone: null, alone: null },
      afterResume: { clone: null, alone: null },
      identityAfterResume: { clone: null, alone: null },
    });
  });
});
