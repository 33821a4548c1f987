import type { RecordedEvent } from '../../domain/event.js';

/**
 * Live events committed by any Manager sharing the database, in the order they are announced.
 * A listener may see an event it already read from the log: deduplicate by id.
 */
export interface EventFeed {
  /** Calls `listener` for every event from now on; the answer stops that. */
  subscribe(listener: (event: RecordedEvent) => void): () => void;
}
