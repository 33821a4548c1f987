import type { PerformanceEntry } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { slowestOf, type TimedRequest } from './phases.js';

const request = (startedAt: number, receivedAt: number, managerRunMs: number): TimedRequest => ({
  startedAt,
  receivedAt,
  manager: { runMs: managerRunMs, waitMs: 1 },
  bench: { runMs: 1, waitMs: 2 },
});
const gc = (startTime: number, duration: number): PerformanceEntry => ({ startTime, duration }) as PerformanceEntry;

describe('slowestOf', () => {
  it("names the five slowest, slowest first, with the part of the bench's GC inside each", () => {
    const timed = [0, 1, 2, 3, 4, 5, 6].map((i) => request(i * 100, i * 100 + 10 + i, i));
    const slowest = slowestOf(timed, [gc(605, 3), gc(514, 10), gc(50, 1)]);
    expect(slowest.map((r) => r.ms)).toEqual([16, 15, 14, 13, 12]);
    expect(slowest.map((r) => r.managerRunMs)).toEqual([6, 5, 4, 3, 2]);
    // 605–608 lies inside 600–616; 514–524 overlaps 500–515 by 1 ms; 50–51 is in none of them.
    expect(slowest.map((r) => r.benchGcMs)).toEqual([3, 1, 0, 0, 0]);
    expect(slowest[0]).toMatchObject({ managerWaitMs: 1, benchWaitMs: 2 });
  });

  it('leaves the threads unknown where the kernel kept no schedstats', () => {
    const [only] = slowestOf([{ startedAt: 0, receivedAt: 5, manager: null, bench: null }], []);
    expect(only).toEqual({ ms: 5, managerRunMs: null, managerWaitMs: null, benchWaitMs: null, benchGcMs: 0 });
  });
});
