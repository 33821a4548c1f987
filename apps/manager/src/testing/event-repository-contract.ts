import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EventRepository } from '../application/ports/event-repository.js';
import type { NewEvent } from '../domain/event.js';
import type { HostId, VmId } from '../domain/ids.js';

export interface EventRepositoryHarness {
  readonly events: EventRepository;
  close(): Promise<void>;
}

const t0 = new Date('2025-01-01T00:00:00.000Z');
const vmA = 'vm_01JAAAAAAAAAAAAAAAAAAAAAAA' as VmId;
const vmB = 'vm_01JBBBBBBBBBBBBBBBBBBBBBBB' as VmId;
const hostA = 'host_01JAAAAAAAAAAAAAAAAAAAAAAA' as HostId;

function event(overrides: Partial<NewEvent> = {}): NewEvent {
  return {
    type: 'vm.state_changed',
    vmId: vmA,
    hostId: hostA,
    project: 'default',
    fromState: 'running',
    toState: 'stopping',
    message: '',
    at: t0,
    ...overrides,
  };
}

/** What every EventRepository does, run against the fake and the PostgreSQL adapter (pg and PGlite). */
export function describeEventRepositoryContract(name: string, open: () => Promise<EventRepositoryHarness>): void {
  describe(`event repository contract: ${name}`, () => {
    let harness: EventRepositoryHarness;
    let events: EventRepository;

    beforeEach(async () => {
      harness = await open();
      events = harness.events;
    });

    afterEach(async () => {
      await harness.close();
    });

    it('appends an event and answers it with a growing id', async () => {
      const first = await events.append(event());
      const second = await events.append(event({ type: 'host.unhealthy', vmId: null, fromState: null, toState: null }));
      expect(first).toEqual({ ...event(), id: first.id });
      expect(second.id).toBeGreaterThan(first.id);
      expect(await events.lastId()).toBe(second.id);
    });

    it('has no last id while the log is empty', async () => {
      expect(await events.lastId()).toBeNull();
    });

    it('filters by VM, host and type, oldest first', async () => {
      const a = await events.append(event());
      const b = await events.append(event({ vmId: vmB }));
      const h = await events.append(event({ type: 'host.unhealthy', vmId: null, hostId: hostA, fromState: null, toState: null }));
      expect((await events.list({ vmId: vmA }, { limit: 10 })).items.map((e) => e.id)).toEqual([a.id]);
      expect((await events.list({ hostId: hostA }, { limit: 10 })).items.map((e) => e.id)).toEqual([a.id, b.id, h.id]);
      expect((await events.list({ type: 'host.unhealthy' }, { limit: 10 })).items.map((e) => e.id)).toEqual([h.id]);
      expect((await events.list({ vmId: vmB, type: 'host.unhealthy' }, { limit: 10 })).items).toEqual([]);
    });

    it('pages by event id with a cursor', async () => {
      const ids: number[] = [];
      for (let i = 0; i < 5; i += 1) ids.push((await events.append(event({ message: `e${i}` }))).id);
      const page1 = await events.list({}, { limit: 2 });
      expect(page1.items.map((e) => e.id)).toEqual(ids.slice(0, 2));
      expect(page1.nextCursor).toBe(ids[1]);
      const page2 = await events.list({}, { limit: 2, afterId: page1.nextCursor ?? undefined });
      expect(page2.items.map((e) => e.message)).toEqual(['e2', 'e3']);
      const page3 = await events.list({}, { limit: 2, afterId: page2.nextCursor ?? undefined });
      expect(page3).toEqual({ items: [expect.objectContaining({ id: ids[4] })], nextCursor: null });
    });

    it('finds events by id, ignoring ids that do not exist', async () => {
      const a = await events.append(event());
      const b = await events.append(event({ vmId: vmB }));
      expect((await events.findByIds([b.id, a.id, 999_999])).map((e) => e.id)).toEqual([a.id, b.id]);
      expect(await events.findByIds([])).toEqual([]);
    });

    it('prunes nothing and reports nothing pruned while every event is within retention', async () => {
      await events.append(event());
      expect(await events.prune({ before: t0, keepNewest: 10, limit: 100 })).toBe(0);
      expect(await events.prunedThroughId()).toBe(0);
    });

    it('prunes events older than the age limit, oldest first, in batches of at most the limit', async () => {
      const ids: number[] = [];
      for (let i = 0; i < 5; i += 1) ids.push((await events.append(event({ at: new Date(t0.getTime() + i * 60_000) }))).id);
      const before = new Date(t0.getTime() + 3 * 60_000);
      expect(await events.prune({ before, keepNewest: 100, limit: 2 })).toBe(2);
      expect(await events.prunedThroughId()).toBe(ids[1]);
      expect(await events.prune({ before, keepNewest: 100, limit: 2 })).toBe(1);
      expect(await events.prune({ before, keepNewest: 100, limit: 2 })).toBe(0);
      expect((await events.list({}, { limit: 10 })).items.map((e) => e.id)).toEqual(ids.slice(3));
      expect(await events.prunedThroughId()).toBe(ids[2]);
    });

    it('prunes all but the newest events beyond the count limit', async () => {
      const ids: number[] = [];
      for (let i = 0; i < 5; i += 1) ids.push((await events.append(event())).id);
      expect(await events.prune({ before: t0, keepNewest: 2, limit: 100 })).toBe(3);
      expect((await events.list({}, { limit: 10 })).items.map((e) => e.id)).toEqual(ids.slice(3));
      expect(await events.prunedThroughId()).toBe(ids[2]);
      const next = await events.append(event());
      expect(next.id).toBeGreaterThan(ids[4]!);
    });
  });
}
