import { setTimeout as sleep } from 'node:timers/promises';

export interface WaitForOptions {
  /** Give up after this long. Default 10 000 ms. */
  readonly timeoutMs?: number;
  /** Pause between attempts. Default 50 ms. */
  readonly intervalMs?: number;
  /**
   * What is awaited, for the timeout message ("the agent answers /health"). A function is called only
   * on timeout, so it can include what happened meanwhile (e.g. `() => \`manager ready\n${manager.output()}\``).
   */
  readonly description?: string | (() => string);
}

/**
 * Calls `fn` until it returns a truthy value and returns that value. A throw counts as "not yet"
 * (so `fetch` against a port that is not listening yet just polls again). Rejects after
 * `timeoutMs` with the description and the last error.
 */
export async function waitFor<T>(fn: () => T | Promise<T>, options: WaitForOptions = {}): Promise<NonNullable<T>> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const intervalMs = options.intervalMs ?? 50;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value as NonNullable<T>;
    } catch (error) {
      lastError = error;
    }
    const remainingMs = deadline - Date.now();
    if (remainingMs <= 0) {
      const reason = lastError instanceof Error ? `; last error: ${lastError.message}` : '';
      const description =
        typeof options.description === 'function' ? options.description() : (options.description ?? 'condition');
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${description}${reason}`, {
        cause: lastError,
      });
    }
    await sleep(Math.min(intervalMs, remainingMs));
  }
}
