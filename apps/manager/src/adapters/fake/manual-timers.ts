import type { TimerHandle, Timers } from '../../application/ports/timers.js';

interface PendingTimer {
  readonly dueMs: number;
  readonly callback: () => void;
}

/** Timers that fire only when a test advances time: loops and timeouts are driven step by step. */
export class ManualTimers implements Timers {
  private nowMs = 0;
  private readonly pending = new Map<TimerHandle, PendingTimer>();

  setTimeout(callback: () => void, delayMs: number): TimerHandle {
    const handle = {};
    this.pending.set(handle, { dueMs: this.nowMs + Math.max(0, delayMs), callback });
    return handle;
  }

  clearTimeout(handle: TimerHandle): void {
    this.pending.delete(handle);
  }

  /** How many timers wait to fire (tests check that none leak). */
  get pendingCount(): number {
    return this.pending.size;
  }

  /** Moves time forward, firing every timer that falls due, in due order. */
  advance(ms: number): void {
    const targetMs = this.nowMs + ms;
    for (;;) {
      let next: [TimerHandle, PendingTimer] | undefined;
      for (const entry of this.pending)
        if (entry[1].dueMs <= targetMs && (next === undefined || entry[1].dueMs < next[1].dueMs)) next = entry;
      if (next === undefined) break;
      this.pending.delete(next[0]);
      this.nowMs = next[1].dueMs;
      next[1].callback();
    }
    this.nowMs = targetMs;
  }
}
