export interface Clock {
  /** Wall-clock time, for records and reports. */
  now(): Date;
  /** Monotonic milliseconds, for durations and deadlines. */
  monotonicMs(): number;
  sleep(ms: number): Promise<void>;
}
