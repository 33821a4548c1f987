import type { TimerHandle, Timers } from '../../application/ports/timers.js';

/** Node's timers, unref'd so that a pending timer never keeps the process alive. */
export class NodeTimers implements Timers {
  setTimeout(callback: () => void, delayMs: number): TimerHandle {
    return setTimeout(callback, delayMs).unref();
  }

  clearTimeout(handle: TimerHandle): void {
    clearTimeout(handle as NodeJS.Timeout);
  }
}
