import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { MetricsFifos } from '../application/ports/metrics-fifos.js';

/** A world for one test: the adapter, a FIFO it may read, and a way to write into it as Firecracker does. */
export interface MetricsFifosHarness {
  readonly fifos: MetricsFifos;
  /** A new FIFO's path. */
  makeFifo(): Promise<string>;
  /** A path that holds no FIFO (a regular file). */
  makeNonFifo(): Promise<string>;
  /** Writes text into the FIFO (non-blocking, as Firecracker writes). */
  write(path: string, text: string): Promise<void>;
  cleanup(): Promise<void>;
}

/** Collects lines; `next(n)` resolves once `n` lines have come, or fails after 5 s. */
function lineCollector(): { onLine: (line: string) => void; lines: string[]; next(count: number): Promise<string[]> } {
  const lines: string[] = [];
  let wake: (() => void) | undefined;
  return {
    lines,
    onLine: (line) => {
      lines.push(line);
      wake?.();
    },
    next: (count) =>
      new Promise((resolve, reject) => {
        const check = (): boolean => {
          if (lines.length < count) return false;
          clearTimeout(timeout);
          resolve(lines.slice(0, count));
          return true;
        };
        const timeout = setTimeout(() => reject(new Error(`only ${lines.length} of ${count} lines came`)), 5_000);
        if (!check()) wake = () => void check();
      }),
  };
}

/** The behaviour every `MetricsFifos` adapter shares. */
export function describeMetricsFifos(name: string, makeHarness: () => Promise<MetricsFifosHarness>): void {
  describe(`MetricsFifos: ${name}`, () => {
    let harness: MetricsFifosHarness;
    beforeEach(async () => {
      harness = await makeHarness();
    });
    afterEach(async () => {
      await harness.cleanup();
    });

    it('hands over each complete line, joining lines written in pieces', async () => {
      const path = await harness.makeFifo();
      const collector = lineCollector();
      const reader = harness.fifos.open(path, collector.onLine);
      try {
        await harness.write(path, '{"a":1}\n{"b"');
        await harness.write(path, ':2}\n{"c":3}\n');
        expect(await collector.next(3)).toEqual(['{"a":1}', '{"b":2}', '{"c":3}']);
      } finally {
        reader.close();
      }
    });

    it('reads what was written before it opened, and nothing after it closed', async () => {
      const path = await harness.makeFifo();
      const first = lineCollector();
      const early = harness.fifos.open(path, first.onLine);
      await harness.write(path, 'one\n');
      expect(await first.next(1)).toEqual(['one']);
      early.close();
      await harness.write(path, 'two\n');
      const second = lineCollector();
      const late = harness.fifos.open(path, second.onLine);
      try {
        expect(await second.next(1)).toEqual(['two']);
        expect(first.lines).toEqual(['one']);
      } finally {
        late.close();
      }
    });

    it('refuses a path that is no FIFO', async () => {
      const path = await harness.makeNonFifo();
      expect(() => harness.fifos.open(path, () => undefined)).toThrow();
    });
  });
}
