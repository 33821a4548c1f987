import type { Clock } from '../../application/ports/clock.js';

/** A clock that only moves when told to. */
export class FixedClock implements Clock {
  private current: Date;

  constructor(start: Date = new Date('2025-01-01T00:00:00.000Z')) {
    this.current = new Date(start.getTime());
  }

  now(): Date {
    return new Date(this.current.getTime());
  }

  advance(ms: number): void {
    this.current = new Date(this.current.getTime() + ms);
  }

  set(at: Date): void {
    this.current = new Date(at.getTime());
  }
}
