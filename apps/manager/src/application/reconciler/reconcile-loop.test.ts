import { describe, expect, it } from 'vitest';
import { ManualTimers } from '../../adapters/fake/manual-timers.js';
import { silentLog } from '../../testing/world.js';
import type { LeaderElection } from '../ports/leader-election.js';
import { ReconcileLoop } from './reconcile-loop.js';
import type { ResyncReport } from './reconciler.js';

const resyncMs = 5_000;
const report: ResyncReport = {
  hostsMarkedUnhealthy: 0,
  hostsWithoutInventory: 0,
  orphansRemoved: 0,
  vmsQueued: 0,
  isFull: true,
  vmsRead: 0,
  vmsCompared: 0,
  inventoriesRead: 0,
  inventoriesHeld: 0,
};

/** An election another Manager holds until `leaderGoes()`; `canWait` says whether it offers a wait for it. */
function heldElsewhere(canWait: boolean) {
  let isFree = false;
  let isOurs = false;
  let wake: ((leads: boolean) => void) | undefined;
  const election: LeaderElection = {
    acquireOrConfirm: async () => {
      if (isFree) isOurs = true;
      return isOurs;
    },
    release: async () => {
      isOurs = false;
      wake?.(false);
    },
    ...(canWait
      ? {
          awaitLeadership: () =>
            new Promise<boolean>((resolve) => {
              wake = (leads) => {
                wake = undefined;
                resolve(leads);
              };
            }),
        }
      : {}),
  };
  return {
    election,
    get isWaiting() {
      return wake !== undefined;
    },
    leaderGoes() {
      isFree = true;
      isOurs = true;
      wake?.(true);
    },
  };
}

function loopWith(election: LeaderElection) {
  const timers = new ManualTimers();
  const seen = { resyncs: 0, activations: 0, follows: 0 };
  const loop = new ReconcileLoop(
    {
      reconciler: {
        activate: () => void (seen.activations += 1),
        deactivate: () => undefined,
        idle: async () => undefined,
        resync: async () => {
          seen.resyncs += 1;
          return report;
        },
        follow: async () => {
          seen.follows += 1;
          return { vmsRead: 0, inventoriesPlanned: 0, vmsCompared: 0 };
        },
      },
      election,
      timers,
      log: silentLog,
    },
    { resyncMs },
  );
  return { loop, timers, seen };
}

/** Lets the loop's promise callbacks run (the election and the reconciler answer at once). */
async function settle(): Promise<void> {
  for (let turn = 0; turn < 10; turn += 1) await Promise.resolve();
}

describe('ReconcileLoop', () => {
  it('takes over and resyncs as soon as the waited-for leadership comes, not at its next tick', async () => {
    const held = heldElsewhere(true);
    const { loop, timers, seen } = loopWith(held.election);
    loop.start();
    timers.advance(0);
    await settle();
    expect([loop.isLeading, held.isWaiting]).toEqual([false, true]);

    held.leaderGoes();
    await settle();
    timers.advance(0);
    await settle();
    expect([loop.isLeading, seen.activations, seen.resyncs]).toEqual([true, 1, 1]);
    await loop.stop();
    expect(timers.pendingCount).toBe(0);
  });

  it('keeps the reconciler warm on each tick while following, and stops following once it leads', async () => {
    const held = heldElsewhere(true);
    const { loop, timers, seen } = loopWith(held.election);
    loop.start();
    timers.advance(0);
    await settle();
    timers.advance(resyncMs);
    await settle();
    expect([seen.follows, seen.resyncs]).toEqual([2, 0]);

    held.leaderGoes();
    await settle();
    timers.advance(0);
    await settle();
    timers.advance(resyncMs);
    await settle();
    expect([loop.isLeading, seen.follows, seen.resyncs]).toEqual([true, 2, 2]);
    await loop.stop();
  });

  it('without a wait to offer, takes over at its next tick', async () => {
    const held = heldElsewhere(false);
    const { loop, timers, seen } = loopWith(held.election);
    loop.start();
    timers.advance(0);
    await settle();
    held.leaderGoes();
    timers.advance(resyncMs - 1);
    await settle();
    expect([loop.isLeading, seen.resyncs]).toEqual([false, 0]);
    timers.advance(1);
    await settle();
    expect([loop.isLeading, seen.resyncs]).toEqual([true, 1]);
    await loop.stop();
  });

  it('ends its wait when stopped, and ticks no more', async () => {
    const held = heldElsewhere(true);
    const { loop, timers, seen } = loopWith(held.election);
    loop.start();
    timers.advance(0);
    await settle();
    expect(held.isWaiting).toBe(true);
    await loop.stop();
    expect([held.isWaiting, timers.pendingCount, seen.resyncs]).toEqual([false, 0, 0]);
  });
});
