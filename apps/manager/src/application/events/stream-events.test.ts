import { describe, expect, it } from 'vitest';
import { createInMemoryRepositories } from '../../adapters/fake/in-memory-repositories.js';
import { ManualTimers } from '../../adapters/fake/manual-timers.js';
import type { NewEvent } from '../../domain/event.js';
import type { VmId } from '../../domain/ids.js';
import { silentLog } from '../../testing/world.js';
import type { EventRepository } from '../ports/event-repository.js';
import { streamEvents, type EventStreamLimits, type EventStreamMessage, type EventStreamSink } from './stream-events.js';

/** A client connection: it accepts `room` messages, then is full until the test reads. */
class FakeSink implements EventStreamSink {
  readonly messages: EventStreamMessage[] = [];
  isEnded = false;
  private room: number;
  private readonly drainWaiters: (() => void)[] = [];
  private markClosed: () => void = () => undefined;
  readonly closed = new Promise<void>((resolve) => (this.markClosed = resolve));

  constructor(room = Number.POSITIVE_INFINITY) {
    this.room = room;
  }

  get isClosed(): boolean {
    return this.isEnded;
  }

  write(message: EventStreamMessage): boolean {
    this.messages.push(message);
    this.room -= 1;
    return this.room > 0;
  }

  drained(): Promise<void> {
    return this.room > 0 || this.isEnded ? Promise.resolve() : new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** The client reads: room for `count` more messages. */
  read(count: number): void {
    this.room = count;
    for (const resolve of this.drainWaiters.splice(0)) resolve();
  }

  end(): void {
    this.isEnded = true;
    this.markClosed();
    for (const resolve of this.drainWaiters.splice(0)) resolve();
  }

  get eventIds(): number[] {
    return this.messages.flatMap((m) => (m.kind === 'event' ? [m.event.id] : []));
  }
}

const limits: EventStreamLimits = { pageSize: 2, maxQueuedEvents: 3, stallMs: 10_000 };
const vmId = 'vm_01JAAAAAAAAAAAAAAAAAAAAAAA' as VmId;

/** Lets the feed's and the stream's queued tasks run (no time passes: the timers are manual). */
const settled = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function setUp() {
  const repos = createInMemoryRepositories();
  const pageReads: (number | undefined)[] = [];
  const events: EventRepository = Object.create(repos.events, {
    list: {
      value: (filter: never, options: { afterId?: number; limit: number }) => (
        pageReads.push(options.afterId),
        repos.events.list(filter, options)
      ),
    },
  }) as EventRepository;
  const timers = new ManualTimers();
  const deps = { events, eventFeed: repos.eventFeed, timers, log: silentLog };
  const append = async (count: number, overrides: Partial<NewEvent> = {}): Promise<number[]> => {
    const ids: number[] = [];
    for (let i = 0; i < count; i += 1) {
      const event = await repos.events.append({
        type: 'vm.state_changed',
        project: 'default',
        vmId,
        hostId: null,
        fromState: 'pending',
        toState: 'scheduled',
        message: '',
        at: new Date(0),
        ...overrides,
      });
      ids.push(event.id);
    }
    return ids;
  };
  return { repos, deps, timers, pageReads, append };
}

describe('streamEvents', () => {
  it('writes the events after Last-Event-ID from the log, then live ones, each once', async () => {
    const { deps, append } = setUp();
    const logged = await append(3);
    const sink = new FakeSink();
    const ended = streamEvents(deps, sink, { filter: {}, afterId: logged[0] }, limits);
    await settled();
    const live = await append(2);
    await settled();
    expect(sink.eventIds).toEqual([...logged.slice(1), ...live]);
    sink.end();
    expect(await ended).toBe('closed');
  });

  it('reads no further page of the log while the client connection is full', async () => {
    const { deps, pageReads, append } = setUp();
    const logged = await append(5);
    const sink = new FakeSink(1);
    const ended = streamEvents(deps, sink, { filter: {}, afterId: 0 }, limits);
    await settled();
    expect(pageReads).toEqual([0]);
    expect(sink.eventIds).toEqual([logged[0]]);
    sink.read(10);
    await settled();
    expect(sink.eventIds).toEqual(logged);
    sink.end();
    expect(await ended).toBe('closed');
  });

  it('drops a client that leaves its connection full longer than the stall limit, naming the last event it got', async () => {
    const { deps, timers, append } = setUp();
    const logged = await append(5);
    const sink = new FakeSink(2);
    const ended = streamEvents(deps, sink, { filter: {}, afterId: 0 }, limits);
    await settled();
    timers.advance(limits.stallMs - 1);
    await settled();
    expect(sink.isEnded).toBe(false);
    timers.advance(1);
    expect(await ended).toBe('dropped');
    expect(sink.messages.at(-1)).toEqual({ kind: 'dropped', reason: 'too_far_behind', lastEventId: logged[1] });
    expect(sink.isEnded).toBe(true);
    expect(deps.eventFeed.listenerCount).toBe(0);
    expect(timers.pendingCount).toBe(0);
  });

  it('drops a live client that lets more live events pile up than the queue holds', async () => {
    const { deps, append } = setUp();
    const sink = new FakeSink(1);
    const ended = streamEvents(deps, sink, { filter: {} }, limits);
    await settled();
    const live = await append(1 + limits.maxQueuedEvents + 1);
    expect(await ended).toBe('dropped');
    expect(sink.messages.at(-1)).toEqual({ kind: 'dropped', reason: 'too_far_behind', lastEventId: live[0] });
  });

  it('reads the log again rather than holding live events while a client catches up', async () => {
    const { deps, append } = setUp();
    const logged = await append(2);
    const sink = new FakeSink(1);
    const ended = streamEvents(deps, sink, { filter: {}, afterId: 0 }, limits);
    await settled();
    const live = await append(limits.maxQueuedEvents + 2);
    await settled();
    sink.read(100);
    await settled();
    expect(sink.eventIds).toEqual([...logged, ...live]);
    expect(sink.isEnded).toBe(false);
    sink.end();
    expect(await ended).toBe('closed');
  });

  it('writes only the events matching the filter', async () => {
    const { deps, append } = setUp();
    const sink = new FakeSink();
    const ended = streamEvents(deps, sink, { filter: { type: 'host.cordoned' } }, limits);
    await settled();
    await append(2);
    const cordoned = await append(1, { type: 'host.cordoned', vmId: null });
    await settled();
    expect(sink.eventIds).toEqual(cordoned);
    sink.end();
    expect(await ended).toBe('closed');
  });

  it('tells a client resuming from a deleted event that events were lost, then goes on from the oldest kept', async () => {
    const { repos, deps, append } = setUp();
    const logged = await append(5);
    await repos.events.prune({ before: new Date(0), keepNewest: 2, limit: 100 });
    const sink = new FakeSink();
    const ended = streamEvents(deps, sink, { filter: {}, afterId: logged[0] }, limits);
    await settled();
    expect(sink.messages[0]).toEqual({ kind: 'events_lost', afterId: logged[0], prunedThroughId: logged[2] });
    expect(sink.eventIds).toEqual(logged.slice(3));
    sink.end();
    expect(await ended).toBe('closed');
  });

  it('stops listening once the client is gone', async () => {
    const { deps } = setUp();
    const sink = new FakeSink();
    const ended = streamEvents(deps, sink, { filter: {} }, limits);
    await settled();
    expect(deps.eventFeed.listenerCount).toBe(1);
    sink.end();
    expect(await ended).toBe('closed');
    expect(deps.eventFeed.listenerCount).toBe(0);
  });
});
