import { describe, expect, it } from 'vitest';
import { FixedClock } from '../adapters/fake/fixed-clock.js';
import type { Host } from '../domain/host.js';
import { RecentHostListing } from './recent-host-listing.js';

/** A repository whose listings are answered by hand, counting them. */
function listings(): {
  list: () => Promise<readonly Host[]>;
  count: () => number;
  answer: (hosts: readonly Host[]) => void;
  fail: () => void;
} {
  const pending: { resolve: (hosts: readonly Host[]) => void; reject: (error: Error) => void }[] = [];
  let count = 0;
  return {
    list: () => {
      count += 1;
      return new Promise((resolve, reject) => pending.push({ resolve, reject }));
    },
    count: () => count,
    answer: (hosts) => pending.shift()?.resolve(hosts),
    fail: () => pending.shift()?.reject(new Error('connection lost')),
  };
}

const host = (name: string): Host => ({ name }) as unknown as Host;

describe('RecentHostListing', () => {
  it('answers the creates of one moment from one listing, under way or answered', async () => {
    const clock = new FixedClock();
    const repository = listings();
    const recent = new RecentHostListing(repository, clock, 500);
    const first = recent.list();
    clock.advance(200);
    const joined = recent.list();
    repository.answer([host('a')]);
    expect(await first).toEqual([host('a')]);
    expect(await joined).toEqual([host('a')]);
    clock.advance(300);
    expect(await recent.list()).toEqual([host('a')]);
    expect(repository.count()).toBe(1);
  });

  it('reads anew once the listing is older than its age', async () => {
    const clock = new FixedClock();
    const repository = listings();
    const recent = new RecentHostListing(repository, clock, 500);
    const first = recent.list();
    repository.answer([host('a')]);
    await first;
    clock.advance(501);
    const second = recent.list();
    repository.answer([host('a'), host('b')]);
    expect(await second).toEqual([host('a'), host('b')]);
    expect(repository.count()).toBe(2);
  });

  it('keeps no failed listing: the next create reads again', async () => {
    const clock = new FixedClock();
    const repository = listings();
    const recent = new RecentHostListing(repository, clock, 500);
    const failed = recent.list();
    repository.fail();
    await expect(failed).rejects.toThrow('connection lost');
    const next = recent.list();
    repository.answer([host('a')]);
    expect(await next).toEqual([host('a')]);
    expect(repository.count()).toBe(2);
  });

  it('reads anew when the clock went back', async () => {
    const clock = new FixedClock(new Date('2025-01-01T00:00:10.000Z'));
    const repository = listings();
    const recent = new RecentHostListing(repository, clock, 500);
    const first = recent.list();
    repository.answer([host('a')]);
    await first;
    clock.set(new Date('2025-01-01T00:00:05.000Z'));
    const second = recent.list();
    repository.answer([host('b')]);
    expect(await second).toEqual([host('b')]);
  });
});
