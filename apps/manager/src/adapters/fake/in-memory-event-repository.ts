import type { EventFeed } from '../../application/ports/event-feed.js';
import type { EventPage, EventPrunePolicy, EventRepository } from '../../application/ports/event-repository.js';
import { matchesEventFilter, type EventFilter, type NewEvent, type RecordedEvent } from '../../domain/event.js';
import type { Store } from './in-memory-store.js';

export class InMemoryEventRepository implements EventRepository {
  constructor(private readonly store: Store) {}

  async append(event: NewEvent): Promise<RecordedEvent> {
    return this.store.recordEvent(event);
  }

  async list(filter: EventFilter, options: { afterId?: number | undefined; limit: number }): Promise<EventPage> {
    const after = options.afterId ?? 0;
    const all = this.store.events.filter((e) => e.id > after && matchesEventFilter(e, filter));
    const items = all.slice(0, options.limit).map((e) => structuredClone(e));
    const last = items.at(-1);
    return { items, nextCursor: all.length > options.limit && last !== undefined ? last.id : null };
  }

  async lastId(): Promise<number | null> {
    return this.store.events.at(-1)?.id ?? null;
  }

  async findByIds(ids: readonly number[]): Promise<readonly RecordedEvent[]> {
    return this.store.events.filter((e) => ids.includes(e.id)).map((e) => structuredClone(e));
  }

  async prunedThroughId(): Promise<number> {
    return this.store.prunedThroughEventId;
  }

  async prune(policy: EventPrunePolicy): Promise<number> {
    const events = this.store.events;
    let cutoff = 0;
    for (const event of events) if (event.at < policy.before && event.id > cutoff) cutoff = event.id;
    const beyondCount = events.at(-(policy.keepNewest + 1));
    if (events.length > policy.keepNewest && beyondCount !== undefined) cutoff = Math.max(cutoff, beyondCount.id);
    let count = 0;
    while (count < policy.limit && events[0] !== undefined && events[0].id <= cutoff) {
      const [removed] = events.splice(0, 1);
      this.store.prunedThroughEventId = Math.max(this.store.prunedThroughEventId, removed?.id ?? 0);
      count += 1;
    }
    return count;
  }
}

/** Announces the events of the in-memory store, after the task that recorded them. */
export class InMemoryEventFeed implements EventFeed {
  constructor(private readonly store: Store) {}

  subscribe(listener: (event: RecordedEvent) => void): () => void {
    const wrapped = (event: RecordedEvent): void => listener(event);
    this.store.eventListeners.add(wrapped);
    return () => {
      this.store.eventListeners.delete(wrapped);
    };
  }

  /** How many listeners are subscribed (tests check that none leak). */
  get listenerCount(): number {
    return this.store.eventListeners.size;
  }
}
