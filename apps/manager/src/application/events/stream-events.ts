import { matchesEventFilter, type EventFilter, type RecordedEvent } from '../../domain/event.js';
import type { UseCaseDependencies } from '../dependencies.js';
import { Permits } from './permits.js';

export interface EventStreamLimits {
  /** Events read from the log per query while a client catches up (one page held at a time). */
  readonly pageSize: number;
  /** Live events held for a client whose connection is full; one more and it is dropped. */
  readonly maxQueuedEvents: number;
  /** How long a client may leave its connection full before it is dropped. */
  readonly stallMs: number;
}

export const defaultEventStreamLimits: EventStreamLimits = Object.freeze({
  pageSize: 100,
  maxQueuedEvents: 1_000,
  stallMs: 30_000,
});

/** What a stream tells its client. */
export type EventStreamMessage =
  | { readonly kind: 'event'; readonly event: RecordedEvent }
  /** Events after `afterId` up to `prunedThroughId` were deleted by retention; the stream goes on with the oldest kept. */
  | { readonly kind: 'events_lost'; readonly afterId: number; readonly prunedThroughId: number }
  /** The client fell too far behind and the stream ends; reconnect with `Last-Event-ID: lastEventId` to resume. */
  | { readonly kind: 'dropped'; readonly reason: 'too_far_behind'; readonly lastEventId: number | null };

/** Where a stream writes: a transport with back-pressure (an HTTP response). */
export interface EventStreamSink {
  /** Writes one message; false when the transport's buffer is full (write no more until `drained()`). */
  write(message: EventStreamMessage): boolean;
  /** Resolves when the buffer has room again, or the client is gone. */
  drained(): Promise<void>;
  /** Resolves when the client is gone or the stream was ended. */
  readonly closed: Promise<void>;
  readonly isClosed: boolean;
  /** Ends the stream from this side. */
  end(): void;
}

/** Why a stream ended: the client left, it fell too far behind, or the log could not be read. */
export type EventStreamEnd = 'closed' | 'dropped' | 'failed';

export interface EventStreamRequest {
  readonly filter: EventFilter;
  /** The last event the client saw (`Last-Event-ID`): the events after it come first. */
  readonly afterId?: number | undefined;
}

/**
 * Streams the events matching the filter to `sink`: first those after `afterId` read from the log
 * page by page, then live ones, each once and without gaps between the two. Honours back-pressure:
 * nothing more is written while the sink is full, so a stream holds at most one page, the live
 * events queued meanwhile (`maxQueuedEvents`) and the transport's buffer. A client that stays full
 * longer than `stallMs`, or lets more than `maxQueuedEvents` live events pile up, gets a final
 * `dropped` message and the stream ends. Pages are read under `logReads`, so that clients catching
 * up leave database connections to the other requests.
 */
export async function streamEvents(
  deps: Pick<UseCaseDependencies, 'events' | 'eventFeed' | 'timers' | 'log'>,
  sink: EventStreamSink,
  request: EventStreamRequest,
  limits: EventStreamLimits = defaultEventStreamLimits,
  /** Shared by the streams of a Manager: how many read the log at once. */
  logReads: Permits = new Permits(Number.POSITIVE_INFINITY),
): Promise<EventStreamEnd> {
  const { filter } = request;
  let isCatchingUp = request.afterId !== undefined;
  /** Live events not written yet. */
  const queue: RecordedEvent[] = [];
  /** Live events were discarded while catching up: the log is read once more before going live. */
  let hasMissedLive = false;
  let isTooFarBehind = false;
  let lastSentId: number | null = null;
  /** Ids written from the log lately, and the highest id read from it: live copies of them are skipped. */
  const fromLog = new Set<number>();
  let logHighWaterId = request.afterId ?? 0;

  let wake: () => void = () => undefined;
  let nudged = new Promise<void>((resolve) => (wake = resolve));
  const nudge = (): void => {
    wake();
    nudged = new Promise<void>((resolve) => (wake = resolve));
  };
  const dropForLagging = (): void => {
    isTooFarBehind = true;
    nudge();
  };
  // Everything the stream waits for nudges it: a live event, the client leaving, the stall limit.
  sink.closed.then(nudge, nudge);

  const unsubscribe = deps.eventFeed.subscribe((event) => {
    if (!matchesEventFilter(event, filter) || isTooFarBehind) return;
    if (queue.length >= limits.maxQueuedEvents) {
      if (isCatchingUp) {
        // Still reading the log: it has these events too. Read it once more instead of holding them.
        queue.length = 0;
        hasMissedLive = true;
      } else {
        dropForLagging();
      }
      return;
    }
    queue.push(event);
    nudge();
  });

  const isOver = (): boolean => isTooFarBehind || sink.isClosed;

  /** Writes one message, waiting (at most `stallMs`) for room when the sink is full. False once the stream is over. */
  const send = async (message: EventStreamMessage): Promise<boolean> => {
    if (isOver()) return false;
    if (message.kind === 'event') lastSentId = message.event.id;
    if (sink.write(message)) return true;
    const stall = deps.timers.setTimeout(dropForLagging, limits.stallMs);
    let isDrained = false;
    const drained = sink.drained().then(() => {
      isDrained = true;
    });
    try {
      while (!isDrained && !isOver()) await Promise.race([drained, nudged]);
    } finally {
      deps.timers.clearTimeout(stall);
    }
    return !isOver();
  };

  const rememberFromLog = (id: number): void => {
    fromLog.add(id);
    logHighWaterId = Math.max(logHighWaterId, id);
    if (fromLog.size > limits.pageSize * 2) {
      const oldest = fromLog.values().next().value;
      if (oldest !== undefined) fromLog.delete(oldest);
    }
  };
  /** A live event already written from the log (or older than what the log part covered). */
  const isAlreadySent = (event: RecordedEvent): boolean => {
    if (event.id > logHighWaterId) return false;
    if (fromLog.has(event.id)) return true;
    const oldestRemembered = fromLog.values().next().value;
    return oldestRemembered === undefined || event.id < oldestRemembered;
  };

  const finish = (): EventStreamEnd => {
    if (isTooFarBehind && !sink.isClosed) {
      sink.write({ kind: 'dropped', reason: 'too_far_behind', lastEventId: lastSentId ?? request.afterId ?? null });
      sink.end();
      return 'dropped';
    }
    return 'closed';
  };

  try {
    if (request.afterId !== undefined) {
      const prunedThroughId = await deps.events.prunedThroughId();
      if (request.afterId < prunedThroughId) {
        if (!(await send({ kind: 'events_lost', afterId: request.afterId, prunedThroughId }))) return finish();
      }
      let cursor = request.afterId;
      for (;;) {
        hasMissedLive = false;
        const afterId = cursor;
        const page = await logReads.run(() => deps.events.list(filter, { afterId, limit: limits.pageSize }));
        for (const event of page.items) {
          if (!(await send({ kind: 'event', event }))) return finish();
          rememberFromLog(event.id);
          cursor = event.id;
        }
        if (page.nextCursor === null && !hasMissedLive) break;
      }
      isCatchingUp = false;
    }
    for (;;) {
      const event = queue.shift();
      if (event !== undefined) {
        if (isAlreadySent(event)) continue;
        if (!(await send({ kind: 'event', event }))) return finish();
        continue;
      }
      if (isOver()) return finish();
      await nudged;
    }
  } catch (error) {
    deps.log.warn({ err: error }, 'event stream could not read the event log');
    sink.end();
    return 'failed';
  } finally {
    unsubscribe();
  }
}
