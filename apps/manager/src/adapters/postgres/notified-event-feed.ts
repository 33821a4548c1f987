import type { EventFeed } from '../../application/ports/event-feed.js';
import type { EventRepository } from '../../application/ports/event-repository.js';
import type { Log } from '../../application/ports/log.js';
import type { RecordedEvent } from '../../domain/event.js';

/** How many dispatched ids are remembered to drop duplicates (e.g. from a catch-up). */
const rememberedIds = 10_000;
const catchUpPageSize = 500;
const retryDelayMs = 1_000;

/**
 * Fans the event ids announced by PostgreSQL out to this process's listeners: the rows are read by
 * id (so the payload never carries the event) in batches, and dispatched once each, in id order
 * within a batch. After a lost notification connection, `catchUp()` reads what was committed
 * after the last dispatched event.
 */
export class NotifiedEventFeed implements EventFeed {
  private readonly listeners = new Set<(event: RecordedEvent) => void>();
  private readonly pendingIds = new Set<number>();
  private readonly dispatched = new Set<number>();
  private lastDispatchedId = 0;
  private work: Promise<void> = Promise.resolve();
  private isFlushScheduled = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private isClosed = false;

  constructor(
    private readonly events: EventRepository,
    private readonly log: Log,
  ) {}

  /** Remembers where the log ends now, so that a catch-up does not replay history. */
  async start(): Promise<void> {
    this.lastDispatchedId = Math.max(this.lastDispatchedId, (await this.events.lastId()) ?? 0);
  }

  subscribe(listener: (event: RecordedEvent) => void): () => void {
    const wrapped = (event: RecordedEvent): void => listener(event);
    this.listeners.add(wrapped);
    return () => {
      this.listeners.delete(wrapped);
    };
  }

  get listenerCount(): number {
    return this.listeners.size;
  }

  /** A notification: event `id` was committed. */
  notify(id: number): void {
    if (this.isClosed || this.dispatched.has(id)) return;
    // Nobody listens (no stream, no waiter): reading the event would cost a query per state change
    // for nothing. It counts as seen, so a later catch-up does not replay it.
    if (this.listeners.size === 0) {
      this.lastDispatchedId = Math.max(this.lastDispatchedId, id);
      return;
    }
    this.pendingIds.add(id);
    if (this.isFlushScheduled) return;
    this.isFlushScheduled = true;
    this.enqueue(async () => {
      this.isFlushScheduled = false;
      const ids = [...this.pendingIds];
      this.pendingIds.clear();
      try {
        this.dispatchAll(await this.events.findByIds(ids));
      } catch (error) {
        this.log.warn({ err: error, count: ids.length }, 'events could not be read; catching up later');
        this.scheduleCatchUp();
      }
    });
  }

  /** Reads and dispatches everything after the last dispatched event (after a reconnect). */
  catchUp(): void {
    this.enqueue(async () => {
      try {
        for (;;) {
          const page = await this.events.list({}, { afterId: this.lastDispatchedId, limit: catchUpPageSize });
          this.dispatchAll(page.items);
          if (page.nextCursor === null) return;
        }
      } catch (error) {
        this.log.warn({ err: error }, 'event catch-up failed; retrying');
        this.scheduleCatchUp();
      }
    });
  }

  close(): void {
    this.isClosed = true;
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.listeners.clear();
  }

  private scheduleCatchUp(): void {
    if (this.isClosed || this.retryTimer !== undefined) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.catchUp();
    }, retryDelayMs);
    this.retryTimer.unref();
  }

  private enqueue(task: () => Promise<void>): void {
    this.work = this.work.then(task, task);
  }

  private dispatchAll(events: readonly RecordedEvent[]): void {
    for (const event of [...events].sort((a, b) => a.id - b.id)) {
      if (this.dispatched.has(event.id)) continue;
      this.remember(event.id);
      for (const listener of [...this.listeners]) {
        try {
          listener(event);
        } catch (error) {
          this.log.error({ err: error, eventId: event.id }, 'event listener failed');
        }
      }
    }
  }

  private remember(id: number): void {
    this.dispatched.add(id);
    this.lastDispatchedId = Math.max(this.lastDispatchedId, id);
    if (this.dispatched.size > rememberedIds) {
      const oldest = this.dispatched.values().next().value;
      if (oldest !== undefined) this.dispatched.delete(oldest);
    }
  }
}
