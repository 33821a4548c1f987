import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Clock } from '../../application/ports/clock.js';
import type { TimerHandle, Timers } from '../../application/ports/timers.js';

export class SystemClock implements Clock {
  now(): Date {
    return new Date();
  }

  monotonicMs(): number {
    return performance.now();
  }

  async sleep(ms: number): Promise<void> {
    await sleep(ms);
  }
}

/** Node's timers, unref'd so a pending retry never keeps the process alive. */
export class NodeTimers implements Timers {
  setTimeout(callback: () => void, delayMs: number): TimerHandle {
    const handle = setTimeout(callback, delayMs);
    handle.unref();
    return handle;
  }

  clearTimeout(handle: TimerHandle): void {
    clearTimeout(handle as NodeJS.Timeout);
  }
}
