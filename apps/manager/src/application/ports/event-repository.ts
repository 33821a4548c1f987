import type { EventFilter, NewEvent, RecordedEvent } from '../../domain/event.js';

export interface EventPage {
  readonly items: readonly RecordedEvent[];
  /** The id to pass as `afterId` for the next page; null when there was no more. */
  readonly nextCursor: number | null;
}

/**
 * The event log. VM state changes write their events inside VmRepository's transactions; this
 * port reads the log and appends events that go with no VM record change (e.g. host health).
 * Every committed event is announced to every Manager (see EventFeed).
 */
export interface EventRepository {
  /** Records one event on its own and answers it with its id. */
  append(event: NewEvent): Promise<RecordedEvent>;
  /** Events matching the filter with an id above `afterId`, oldest first. */
  list(filter: EventFilter, options: { readonly afterId?: number | undefined; readonly limit: number }): Promise<EventPage>;
  /** The id of the newest event; null when there is none. */
  lastId(): Promise<number | null>;
  /** The events with these ids that exist, oldest first. */
  findByIds(ids: readonly number[]): Promise<readonly RecordedEvent[]>;
  /** The highest id retention has deleted (every event up to it may be gone); 0 when none was. */
  prunedThroughId(): Promise<number>;
  /**
   * Deletes, oldest first, at most `limit` events among those recorded before `before` or older
   * than the newest `keepNewest`, and remembers the highest id deleted. Answers how many it deleted.
   */
  prune(policy: EventPrunePolicy): Promise<number>;
}

export interface EventPrunePolicy {
  readonly before: Date;
  readonly keepNewest: number;
  readonly limit: number;
}
