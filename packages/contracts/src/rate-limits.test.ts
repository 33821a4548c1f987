import { describe, expect, it } from 'vitest';
import {
  firecrackerRateLimiter,
  firecrackerRateLimiterPatch,
  isSameRateLimits,
  rateLimiterFromFirecracker,
  type RateLimiter,
} from './rate-limits.js';

const limiter: RateLimiter = {
  bandwidth: { size: 1000, oneTimeBurst: 50, refillTimeMs: 100 },
  ops: { size: 10, refillTimeMs: 1000 },
};

describe('rate limits', () => {
  it('are the same whatever the key order, and a burst of 0 is no burst', () => {
    expect(
      isSameRateLimits(
        { drive: { ops: { size: 1, refillTimeMs: 2 } }, networkRx: limiter },
        {
          networkRx: { ops: limiter.ops!, bandwidth: limiter.bandwidth! },
          drive: { ops: { refillTimeMs: 2, size: 1, oneTimeBurst: 0 } },
        },
      ),
    ).toBe(true);
    expect(isSameRateLimits({ networkRx: limiter }, { networkTx: limiter })).toBe(false);
    expect(isSameRateLimits({}, { drive: { ops: { size: 1, refillTimeMs: 1 } } })).toBe(false);
  });

  it("are put in Firecracker's field names with only the buckets given", () => {
    expect(firecrackerRateLimiter({ ops: { size: 10, refillTimeMs: 1000 } })).toEqual({ ops: { size: 10, refill_time: 1000 } });
    expect(firecrackerRateLimiter(undefined)).toBeUndefined();
  });

  it('are patched with both buckets, a missing one disabled by size 0', () => {
    expect(firecrackerRateLimiterPatch({ bandwidth: limiter.bandwidth! })).toEqual({
      bandwidth: { size: 1000, one_time_burst: 50, refill_time: 100 },
      ops: { size: 0, refill_time: 0 },
    });
    expect(firecrackerRateLimiterPatch(undefined)).toEqual({
      bandwidth: { size: 0, refill_time: 0 },
      ops: { size: 0, refill_time: 0 },
    });
  });

  it("are read back from Firecracker's configuration, null and disabled buckets as none", () => {
    expect(
      rateLimiterFromFirecracker({
        bandwidth: { size: 1000, one_time_burst: 50, refill_time: 100 },
        ops: { size: 10, one_time_burst: null, refill_time: 1000 },
      }),
    ).toEqual(limiter);
    expect(rateLimiterFromFirecracker(null)).toBeUndefined();
    expect(rateLimiterFromFirecracker({ bandwidth: null, ops: { size: 0, refill_time: 0 } })).toBeUndefined();
  });
});
