import type { TimerHandle, Timers } from '../../application/ports/timers.js';

interface PendingTimer {
  readonly id: number;
  readonly dueMs: number;
  readonly callback: () => void;
}

/** Timers driven by hand: `runNext()` fires the earliest pending timer and moves time to it. */
export class FakeTimers implements Timers {
  private nextId = 1;
  private pending: PendingTimer[] = [];
  nowMs = 0;

  setTimeout(callback: () => void, delayMs: number): TimerHandle {
    const timer = { id: this.nextId++, dueMs: this.nowMs + delayMs, callback };
    this.pending.push(timer);
    return { id: timer.id };
  }

  clearTimeout(handle: TimerHandle): void {
    this.pending = this.pending.filter((timer) => timer.id !== (handle as { id: number }).id);
  }

  get pendingDelaysMs(): number[] {
    return this.pending.map((timer) => timer.dueMs - this.nowMs);
  }

  /** Fires the earliest timer; answers its delay, or undefined when none is pending. */
  runNext(): number | undefined {
    const [next] = [...this.pending].sort((a, b) => a.dueMs - b.dueMs);
    if (next === undefined) return undefined;
    this.pending = this.pending.filter((timer) => timer !== next);
    const delayMs = next.dueMs - this.nowMs;
    this.nowMs = next.dueMs;
    next.callback();
    return delayMs;
  }
}
