import { describe, expect, it } from 'vitest';
import type { Host } from '../../domain/host.js';
import type { HostId } from '../../domain/ids.js';
import type { HeldInventory } from './held-inventory.js';
import { FollowerInventoryReads } from './follower-inventory-reads.js';

function hostOf(id: string, reported: string | null, status: Host['status'] = 'healthy'): Host {
  return {
    id: id as HostId,
    status,
    reportedInventory: reported === null ? null : { tag: reported, takenAfter: new Date(0) },
  } as Host;
}

const inventory = { vms: [], snapshotCopies: [] } as unknown as HeldInventory;

/** An inventory cache whose reads end when the test says, answering the tag each host reported. */
function cacheHolding(held: Record<string, string>) {
  const reads: { hostId: HostId; end: (answered: boolean) => void }[] = [];
  const cache = {
    heldTagOf: (hostId: HostId) => held[hostId],
    readToHold: (host: Host) =>
      new Promise<HeldInventory | undefined>((resolve) => {
        reads.push({
          hostId: host.id,
          end: (answered) => {
            if (answered && host.reportedInventory !== null) held[host.id] = host.reportedInventory.tag;
            resolve(answered ? inventory : undefined);
          },
        });
      }),
  };
  return { cache, reads };
}

/** Lets the reads' promise callbacks run. */
async function settle(): Promise<void> {
  for (let turn = 0; turn < 5; turn += 1) await Promise.resolve();
}

describe('FollowerInventoryReads', () => {
  it('reads only healthy hosts whose reported tag is not the one held, at most the budget, a few at a time', async () => {
    const { cache, reads } = cacheHolding({ host_held: 't1' });
    const follower = new FollowerInventoryReads(cache, 2);
    const hosts = [
      hostOf('host_held', 't1'),
      hostOf('host_untagged', null),
      hostOf('host_unhealthy', 't9', 'unhealthy'),
      hostOf('host_a', 't2'),
      hostOf('host_b', 't3'),
      hostOf('host_c', 't4'),
      hostOf('host_d', 't5'),
    ];

    expect(follower.plan(hosts, 3)).toBe(3);
    expect(reads.map((read) => read.hostId)).toEqual(['host_a', 'host_b']);
    reads[0]?.end(true);
    await settle();
    expect(reads.map((read) => read.hostId)).toEqual(['host_a', 'host_b', 'host_c']);
    reads[1]?.end(true);
    reads[2]?.end(true);
    await settle();
    await follower.idle();

    // The next interval: host_d, and none of those read whose report has not moved since.
    expect(follower.plan(hosts, 3)).toBe(1);
    expect(reads.map((read) => read.hostId)).toEqual(['host_a', 'host_b', 'host_c', 'host_d']);
  });

  it('asks no second read for the same report, and asks again once a read went unanswered', async () => {
    const { cache, reads } = cacheHolding({});
    const follower = new FollowerInventoryReads(cache, 2);
    const hosts = [hostOf('host_a', 't1'), hostOf('host_b', 't1')];
    follower.plan(hosts, 10);
    // host_a's Agent answers with an inventory whose tag moved on meanwhile; host_b's does not answer.
    reads[0]?.end(false);
    reads[1]?.end(true);
    await follower.idle();
    expect(follower.plan(hosts, 10)).toBe(1);
    expect(reads.map((read) => read.hostId)).toEqual(['host_a', 'host_b', 'host_a']);
    reads[2]?.end(true);
    await follower.idle();

    expect(follower.plan([hostOf('host_a', 't1'), hostOf('host_b', 't2')], 10)).toBe(1);
    expect(reads.at(-1)?.hostId).toBe('host_b');
  });

  it('starts none of the reads still waiting once stopped (its replica leads)', async () => {
    const { cache, reads } = cacheHolding({});
    const follower = new FollowerInventoryReads(cache, 1);
    follower.plan([hostOf('host_a', 't1'), hostOf('host_b', 't1')], 10);

    follower.stop();
    reads[0]?.end(true);
    await follower.idle();

    expect(reads.map((read) => read.hostId)).toEqual(['host_a']);
  });
});
