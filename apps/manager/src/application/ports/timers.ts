export type TimerHandle = object;

/** Timer scheduling, injected so loops can be driven step by step in tests. */
export interface Timers {
  setTimeout(callback: () => void, delayMs: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}
