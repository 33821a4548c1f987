import { describe, expect, it } from 'vitest';
import { isLimited, unlimitedQuota } from './project.js';

describe('isLimited', () => {
  it('is false for a quota without limits and true as soon as one limit is set', () => {
    expect(isLimited(unlimitedQuota)).toBe(false);
    expect(isLimited({ ...unlimitedQuota, maxVms: 0 })).toBe(true);
    expect(isLimited({ ...unlimitedQuota, maxVcpus: 8 })).toBe(true);
    expect(isLimited({ ...unlimitedQuota, maxMemoryMib: 1024 })).toBe(true);
  });
});
