import type { HostFacts } from '@hearth/contracts';
import { describe, expect, it } from 'vitest';
import { FakeHostProbe } from '../../adapters/fake/fake-host-probe.js';
import { InMemoryVmRecordStore } from '../../adapters/fake/in-memory-vm-record-store.js';
import { ManualClock } from '../../adapters/fake/manual-clock.js';
import type { HostResources } from '../ports/host-probe.js';
import { HostFactsCache, readHealth, readHeartbeat, type HostStatusContext } from './host-status.js';

/** Counts the reads, and can hold a facts read open or make it fail. */
class CountingHostProbe extends FakeHostProbe {
  factsReads = 0;
  resourcesReads = 0;
  failNextFacts = false;
  gate: Promise<void> | null = null;

  override async resources(): Promise<HostResources> {
    this.resourcesReads += 1;
    return super.resources();
  }

  override async facts(): Promise<HostFacts> {
    this.factsReads += 1;
    await this.gate;
    if (this.failNextFacts) {
      this.failNextFacts = false;
      throw new Error('probe failed');
    }
    return { ...this.hostFacts };
  }
}

function setup(ttlMs = 15_000) {
  const probe = new CountingHostProbe();
  const clock = new ManualClock();
  const status: HostStatusContext = { probe, records: new InMemoryVmRecordStore(), clock, hostName: 'host-a' };
  return { probe, clock, status, cache: new HostFactsCache(probe, clock, ttlMs) };
}

describe('HostFactsCache', () => {
  it('reuses the facts until the TTL has passed, then reads them again', async () => {
    const { probe, clock, cache } = setup(15_000);

    await cache.get();
    clock.advance(14_999);
    await cache.get();
    expect(probe.factsReads).toBe(1);

    clock.advance(1);
    await cache.get();
    expect(probe.factsReads).toBe(2);
  });

  it('shows a change only once the cached facts have expired', async () => {
    const { probe, clock, cache } = setup(10_000);
    await cache.get();

    probe.hostFacts = { ...probe.hostFacts, isBridgeUp: false };
    expect((await cache.get()).isBridgeUp).toBe(true);
    clock.advance(10_000);
    expect((await cache.get()).isBridgeUp).toBe(false);
  });

  it('shares one read between callers that arrive while it is under way', async () => {
    const { probe, cache } = setup();
    let open: () => void = () => undefined;
    probe.gate = new Promise<void>((resolve) => {
      open = resolve;
    });

    const reads = [cache.get(), cache.get(), cache.refresh()];
    open();
    await Promise.all(reads);

    expect(probe.factsReads).toBe(1);
  });

  it('keeps no failed read: the next caller reads again', async () => {
    const { probe, cache } = setup();
    probe.failNextFacts = true;

    await expect(cache.get()).rejects.toThrow('probe failed');
    await cache.get();

    expect(probe.factsReads).toBe(2);
  });

  it('refresh reads now and restarts the TTL', async () => {
    const { probe, clock, cache } = setup(10_000);
    await cache.get();
    clock.advance(8_000);

    await cache.refresh();
    clock.advance(8_000);
    await cache.get();

    expect(probe.factsReads).toBe(2);
  });
});

describe('readHeartbeat', () => {
  it('reads resources once and facts from the cache', async () => {
    const { probe, status, cache } = setup();

    const first = await readHeartbeat(status, cache);
    await readHeartbeat(status, cache);

    expect(first).toEqual({ capacity: { ...probe.hostResources, vmCount: 0 }, facts: probe.hostFacts });
    expect(probe.resourcesReads).toBe(2);
    expect(probe.factsReads).toBe(1);
  });
});

describe('readHeartbeat with the inventory tag', () => {
  it("carries the inventory's tag, and goes without it when the inventory cannot be listed", async () => {
    const { status, cache } = setup();

    const tagged = await readHeartbeat(status, cache, async () => '"p-digest"');
    const untagged = await readHeartbeat(status, cache, async () => {
      throw new Error('records unreadable');
    });

    expect(tagged.inventoryTag).toBe('"p-digest"');
    expect(untagged).not.toHaveProperty('inventoryTag');
    expect(untagged.capacity).toEqual(tagged.capacity);
  });
});

describe('readHealth', () => {
  it('always reads fresh facts', async () => {
    const { probe, status, cache } = setup();
    await readHeartbeat(status, cache);

    probe.hostFacts = { ...probe.hostFacts, isKvmUsable: false };
    const health = await readHealth(status);

    expect(health.facts.isKvmUsable).toBe(false);
    expect(probe.factsReads).toBe(2);
  });
});
