import { setImmediate as nextTurn } from 'node:timers/promises';

/**
 * Longest stretch a resync runs without letting the event loop turn. A heartbeat or an API request
 * that arrives meanwhile waits for the slice's end, so this bounds what a resync adds to their
 * latency (the targets are 20 ms at p99), whatever the size of the fleet.
 */
export const resyncSliceMs = 5;

/**
 * Cuts a long synchronous loop into slices of at most `sliceMs` of wall time: call `turnIfDue()` once
 * per item; it lets the event loop turn (I/O callbacks run, then the loop goes on) once the slice is
 * spent, and answers whether it did, so the caller can check that its work should go on.
 * Time, not a count of items: what an item costs differs between loops and between machines.
 */
export class EventLoopSlices {
  private sliceStartMs: number;

  constructor(
    private readonly sliceMs: number = resyncSliceMs,
    private readonly nowMs: () => number = () => performance.now(),
  ) {
    this.sliceStartMs = nowMs();
  }

  /** Lets the event loop turn when the current slice is spent; answers whether it did. */
  async turnIfDue(): Promise<boolean> {
    if (this.nowMs() - this.sliceStartMs < this.sliceMs) return false;
    await nextTurn();
    this.sliceStartMs = this.nowMs();
    return true;
  }

  /** Starts a new slice (after the caller awaited something that let the loop turn anyway). */
  restart(): void {
    this.sliceStartMs = this.nowMs();
  }
}
