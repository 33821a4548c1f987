import { HearthError, problemOf } from './hearth-error.js';
import { readServerSentEvents } from './server-sent-events.js';
import type { HearthEvent, ListEventsFilter } from './types.js';

export interface EventStreamOptions extends ListEventsFilter {
  /** Start after this event id (the events after it come first); default: only events from now on. */
  readonly since?: number | undefined;
  /** Ends the iteration (it then finishes without an error). */
  readonly signal?: AbortSignal | undefined;
  /**
   * Called when events were deleted by retention before the stream could send them (those after
   * `afterId` up to `prunedThroughId`); the stream goes on with the oldest kept event.
   */
  readonly onEventsLost?: ((lost: { afterId: number; prunedThroughId: number }) => void) | undefined;
  /** Called before each reconnection, with why the connection ended. */
  readonly onReconnect?: ((reason: unknown, attempt: number) => void) | undefined;
  /** Reconnection attempts in a row without receiving anything before giving up (default: unlimited). */
  readonly maxReconnects?: number | undefined;
}

export type OpenStream = (lastEventId: number | undefined, signal: AbortSignal) => Promise<Response>;

/** The first wait before reconnecting, doubled after each attempt that brought nothing, up to `maxDelayMs`. */
const initialDelayMs = 250;
const maxDelayMs = 5_000;

/**
 * Live events, resuming after a dropped connection: each reconnection sends `Last-Event-ID` (the
 * last event yielded, else `since`), so no event is missed or repeated while the Manager keeps them.
 * A refusal (401, 403, 400, 429 …) ends the iteration with its `HearthError`.
 */
export async function* streamEvents(open: OpenStream, options: EventStreamOptions): AsyncGenerator<HearthEvent> {
  let lastEventId = options.since;
  let failures = 0;
  const stop = new AbortController();
  const onAbort = (): void => stop.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    while (!stop.signal.aborted) {
      let reason: unknown = new Error('the event stream ended');
      try {
        const response = await open(lastEventId, stop.signal);
        if (!response.ok || response.body === null) {
          const body: unknown = await response.json().catch(() => undefined);
          const error = problemOf(response, body);
          if (response.status < 500 && response.status !== 429) throw error;
          reason = error;
        } else {
          for await (const message of readServerSentEvents(response.body)) {
            if (message.event === 'message') {
              const event = JSON.parse(message.data) as HearthEvent;
              lastEventId = event.id;
              failures = 0;
              yield event;
            } else if (message.event === 'events_lost') {
              options.onEventsLost?.(JSON.parse(message.data) as { afterId: number; prunedThroughId: number });
            } else if (message.event === 'dropped') {
              reason = new Error(`the Manager dropped the stream: ${message.data}`);
            }
          }
        }
      } catch (error) {
        if (stop.signal.aborted) return;
        if (error instanceof HearthError) throw error;
        reason = error;
      }
      if (stop.signal.aborted) return;
      failures += 1;
      if (options.maxReconnects !== undefined && failures > options.maxReconnects) throw reason;
      options.onReconnect?.(reason, failures);
      await sleep(Math.min(initialDelayMs * 2 ** (failures - 1), maxDelayMs), stop.signal);
    }
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    stop.abort();
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
