import type { Clock } from '../../application/ports/clock.js';

/** A clock that moves only when told to; `sleep` advances it instantly, so polling loops stay deterministic. */
export class ManualClock implements Clock {
  private wallMs: number;
  private monotonic = 0;

  constructor(start = new Date('2025-01-01T00:00:00.000Z')) {
    this.wallMs = start.getTime();
  }

  now(): Date {
    return new Date(this.wallMs);
  }

  monotonicMs(): number {
    return this.monotonic;
  }

  advance(ms: number): void {
    this.wallMs += ms;
    this.monotonic += ms;
  }

  async sleep(ms: number): Promise<void> {
    this.advance(ms);
  }
}
