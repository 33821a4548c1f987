/** How requests reach the Manager: the token, an `Idempotency-Key` on every POST, and retries. */
export interface TransportOptions {
  /** An API token (`hth_…`); sent as `Authorization: Bearer`. */
  readonly token?: string | undefined;
  /** The fetch to use (default: the global one). */
  readonly fetch?: typeof fetch | undefined;
  /** Retries after a network error, 429, 502, 503 or 504 (default 2); a POST is retried with the same key. */
  readonly retries?: number | undefined;
  /** Waits this long before the first retry, doubling each time, unless `Retry-After` says otherwise (default 250). */
  readonly retryDelayMs?: number | undefined;
}

const retriedStatuses = new Set([429, 502, 503, 504]);
/** A `Retry-After` longer than this is not waited for: the answer goes to the caller. */
const maxRetryAfterMs = 10_000;

function delay(ms: number, signal: AbortSignal | null): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason as Error);
      },
      { once: true },
    );
  });
}

/**
 * A fetch that authenticates, gives every POST an `Idempotency-Key` (unless the caller set one), and
 * retries what is safe to retry: every request after a network error or an answer that says "later",
 * a POST too, since its key makes the Manager replay the first answer instead of acting twice.
 */
export function createTransport(options: TransportOptions): (request: Request) => Promise<Response> {
  const send = options.fetch ?? globalThis.fetch.bind(globalThis);
  const retries = options.retries ?? 2;
  const retryDelayMs = options.retryDelayMs ?? 250;
  return async (input: Request) => {
    const request = input.clone();
    if (options.token !== undefined && !request.headers.has('authorization')) {
      request.headers.set('authorization', `Bearer ${options.token}`);
    }
    if (request.method === 'POST' && !request.headers.has('idempotency-key')) {
      request.headers.set('idempotency-key', crypto.randomUUID());
    }
    for (let attempt = 0; ; attempt += 1) {
      const isLast = attempt >= retries;
      let response: Response;
      try {
        response = await send(isLast ? request : request.clone());
      } catch (error) {
        if (isLast || request.signal.aborted) throw error;
        await delay(retryDelayMs * 2 ** attempt, request.signal);
        continue;
      }
      if (isLast || !retriedStatuses.has(response.status)) return response;
      const retryAfterMs = Number(response.headers.get('retry-after') ?? Number.NaN) * 1000;
      if (retryAfterMs > maxRetryAfterMs) return response;
      await response.body?.cancel();
      await delay(Number.isFinite(retryAfterMs) ? retryAfterMs : retryDelayMs * 2 ** attempt, request.signal);
    }
  };
}
