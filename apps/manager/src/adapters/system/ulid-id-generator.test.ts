import { describe, expect, it } from 'vitest';
import { parseVmId } from '../../domain/ids.js';
import { batchedRandomSource, UlidIdGenerator } from './ulid-id-generator.js';

describe('UlidIdGenerator', () => {
  it('makes well-formed ids that sort in the order they were made', () => {
    const ids = new UlidIdGenerator();
    const made = Array.from({ length: 1_000 }, () => ids.vmId());
    expect(made.filter((id) => parseVmId(id) !== id)).toEqual([]);
    expect([...made].sort()).toEqual(made);
    expect(new Set(made).size).toBe(made.length);
  });
});

describe('batchedRandomSource', () => {
  it('answers numbers in [0, 1) in steps of 1/256, past the end of a batch, covering every value', () => {
    const random = batchedRandomSource();
    const values = Array.from({ length: 5_000 }, () => random());
    expect(values.filter((value) => !(value >= 0 && value < 1 && Number.isInteger(value * 256)))).toEqual([]);
    expect(new Set(values).size).toBe(256);
  });

  it('draws new bytes for each batch', () => {
    const random = batchedRandomSource();
    const batch = () => Array.from({ length: 256 }, () => random());
    expect(batch()).not.toEqual(batch());
  });
});
