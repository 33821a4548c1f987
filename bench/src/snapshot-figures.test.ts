import { describe, expect, it } from 'vitest';
import { cpuGroups, type CpuGroup } from './cpu.js';
import { cloneBreakdown, emptySnapshotSamples, snapshotFigures } from './snapshot-figures.js';

const shape = { memoryMib: 256, cloneCount: 10 };

/** CPU per clone of each group: the ones given, 0 for the rest. */
function cpu(ms: Partial<Record<CpuGroup, number>>): Record<CpuGroup, number> {
  return Object.fromEntries(cpuGroups.map((group) => [group, ms[group] ?? 0])) as Record<CpuGroup, number>;
}

describe('snapshotFigures', () => {
  it('reports the median of each sample and the ratios of the medians against the floor', () => {
    const result = snapshotFigures(
      {
        createMs: [900, 700, 800],
        pauseMs: [400, 600, 500],
        restoreMs: [1_300, 1_100, 1_200],
        restoreFloorMs: [1_000, 900, 1_100],
        clonesMs: [6_000, 4_000, 5_000],
        clonesFloorMs: [2_000, 2_500, 3_000],
        cloneTimelines: [],
        cloneCpuMs: [cpu({ agent: 30, manager: 9 }), cpu({ agent: 10, manager: 7 }), cpu({ agent: 20, manager: 8 })],
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
    expect(result).toMatchObject({ memoryMib: 256, cloneCount: 10, note: 'measured' });
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
