import { describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../../domain/event.js';
import type { HostId, VmId } from '../../domain/ids.js';
import { InMemoryEventRepository } from '../fake/in-memory-event-repository.js';
import { Store } from '../fake/in-memory-store.js';
import { silentLog } from '../../testing/world.js';
import { NotifiedEventFeed } from './notified-event-feed.js';

const vmId = 'vm_01JAAAAAAAAAAAAAAAAAAAAAAA' as VmId;
const hostId = 'host_01JAAAAAAAAAAAAAAAAAAAAAAA' as HostId;

/** The in-memory event log, counting the reads the feed makes. */
class CountingEvents extends InMemoryEventRepository {
  reads = 0;

  override async findByIds(ids: readonly number[]): Promise<readonly RecordedEvent[]> {
    this.reads += 1;
    return super.findByIds(ids);
  }

  override async list(...args: Parameters<InMemoryEventRepository['list']>): ReturnType<InMemoryEventRepository['list']> {
    this.reads += 1;
    return super.list(...args);
  }
}

async function appendEvent(events: CountingEvents, message: string): Promise<number> {
  const event = await events.append({
    type: 'vm.state_changed',
    vmId,
    project: 'default',
    hostId,
    fromState: 'running',
    toState: 'stopping',
    message,
    at: new Date(),
  });
  return event.id;
}

const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 10));

describe('NotifiedEventFeed', () => {
  it('reads no event while nobody listens, and does not replay those on a catch-up', async () => {
    const events = new CountingEvents(new Store());
    const feed = new NotifiedEventFeed(events, silentLog);
    await feed.start();

    feed.notify(await appendEvent(events, 'unheard'));
    await settle();
    expect(events.reads).toBe(0);

    const received: string[] = [];
    feed.subscribe((event) => received.push(event.message));
    feed.catchUp();
    feed.notify(await appendEvent(events, 'heard'));
    await settle();

    expect(received).toEqual(['heard']);
    expect(events.reads).toBeGreaterThan(0);
    feed.close();
  });
});
