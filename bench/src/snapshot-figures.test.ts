import { describe, expect, it } from 'vitest';
import { emptySnapshotSamples, snapshotFigures } from './snapshot-figures.js';

const shape = { memoryMib: 256, cloneCount: 10 };

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
    expect(result).toMatchObject({ memoryMib: 256, cloneCount: 10, note: 'measured' });
  });

  it('has no ratio when the floor was not measured', () => {
    const result = snapshotFigures({ ...emptySnapshotSamples, restoreMs: [1_000], clonesMs: [3_000] }, shape, 'no floor');
    expect(result.restore.p50).toBe(1_000);
    expect(result.restoreRatio).toBeNull();
    expect(result.clonesRatio).toBeNull();
  });
});
