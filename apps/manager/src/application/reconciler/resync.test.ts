import { describe, expect, it } from 'vitest';
import { agentAuthorization, createWorld, hostCapacity, hostFacts, type World } from '../../testing/world.js';
import type { Host } from '../../domain/host.js';
import { defaultRetryPolicy } from '../../domain/restart-policy.js';
import type { Vm } from '../../domain/vm.js';
import type { ReconcileStateRepository } from '../ports/reconcile-state-repository.js';
import { createVm } from '../use-cases/create-vm.js';
import { heartbeat } from '../use-cases/heartbeat.js';
import { Reconciler } from './reconciler.js';

const heartbeatIntervalMs = 1000;
const graceMs = 2000;
const vmCount = 20;
const capacity = { cpuCount: 64, memoryMibTotal: 65_536, memoryMibAvailable: 65_000 };

/** A healthy host running `vmCount` VMs, a reconciler leading, and the VM rows it reads counted. */
async function setUp(options: { fullResyncEvery?: number; sliceMs?: number; isSettled?: boolean } = {}): Promise<{
  world: World;
  host: Host;
  vms: Vm[];
  reconciler: Reconciler;
  rowsRead: () => number;
}> {
  const world = createWorld({ heartbeatIntervalMs });
  const host = await world.addHost({ capacity });
  const { kernel, rootfs } = await world.addImages();
  const vms: Vm[] = [];
  for (let i = 0; i < vmCount; i += 1) {
    vms.push(
      await createVm(world.deps, {
        project: 'default',
        name: `vm-${i}`,
        vcpuCount: 1,
        memoryMib: 128,
        kernelImageId: kernel.id,
        rootfsImageId: rootfs.id,
      }),
    );
  }
  let read = 0;
  const reconcileStates: ReconcileStateRepository = {
    ...world.deps.reconcileStates,
    get: (vmId) => world.deps.reconcileStates.get(vmId),
    readForResync: async (since) => {
      const answer = await world.deps.reconcileStates.readForResync(since);
      read += answer.views.length;
      return answer;
    },
    forgetDeletionsBefore: (watermark) => world.deps.reconcileStates.forgetDeletionsBefore(watermark),
    scheduleRetry: (vmId, retry) => world.deps.reconcileStates.scheduleRetry(vmId, retry),
    recordCrash: (vmId, crash) => world.deps.reconcileStates.recordCrash(vmId, crash),
    resetCrashWindow: (vmId) => world.deps.reconcileStates.resetCrashWindow(vmId),
    clearRetry: (vmId) => world.deps.reconcileStates.clearRetry(vmId),
    setRestartPolicy: (vmId, policy) => world.deps.reconcileStates.setRestartPolicy(vmId, policy),
  };
  const reconciler = new Reconciler(
    { ...world.deps, reconcileStates },
    {
      heartbeatIntervalMs,
      graceMs,
      concurrency: 2,
      inventoryMaxAgeMs: 0,
      retry: defaultRetryPolicy,
      ...(options.fullResyncEvery === undefined ? {} : { fullResyncEvery: options.fullResyncEvery }),
      ...(options.sliceMs === undefined ? {} : { sliceMs: options.sliceMs }),
    },
  );
  reconciler.activate();
  // The first passes settle whatever differs from what the host holds: let them (unless asked not to).
  for (let pass = 0; pass < (options.isSettled === false ? 0 : 5); pass += 1) {
    const report = await reconciler.resync();
    await reconciler.idle();
    if (report.vmsQueued === 0 && report.vmsRead === 0) break;
  }
  world.agents.calls.splice(0);
  read = 0;
  return { world, host, vms, reconciler, rowsRead: () => read };
}

/** Passes the time with the host heartbeating, so it stays healthy; `isTagged`: each beat carries its inventory's tag. */
async function pass(world: World, host: Host, ms: number, options: { isTagged?: boolean } = {}): Promise<void> {
  for (let elapsedMs = 0; elapsedMs < ms; elapsedMs += heartbeatIntervalMs) {
    world.clock.advance(Math.min(heartbeatIntervalMs, ms - elapsedMs));
    await heartbeat(
      world.deps,
      host.id,
      {
        capacity: hostCapacity(capacity),
        facts: hostFacts(),
        ...(options.isTagged === true ? { inventoryTag: world.agents.heartbeatTag(host.addr) } : {}),
      },
      agentAuthorization(host.agentId),
    );
  }
}

function inventoryReadsOf(world: World): { isUnchanged?: boolean }[] {
  return world.agents.calls.filter((call) => call.operation === 'inventory');
}

describe('the first resync after creates', () => {
  it('queues none of the VMs just created: what their Agent answered of them was recorded with `running`', async () => {
    const { reconciler, vms } = await setUp({ isSettled: false });

    const first = await reconciler.resync();

    expect(first).toMatchObject({ isFull: true, vmsCompared: vmCount, vmsQueued: 0 });
    expect(vms.map((vm) => vm.observedState)).toEqual(vms.map(() => 'running'));
  });
});

describe('a resync between full ones', () => {
  it('reads no VM row and compares no VM when nothing changed since the pass before', async () => {
    const { reconciler, rowsRead } = await setUp();

    const quiet = await reconciler.resync();

    expect(quiet).toMatchObject({ isFull: false, vmsRead: 0, vmsCompared: 0, vmsQueued: 0 });
    expect(rowsRead()).toBe(0);
  });

  it("reuses the host's inventory when its Agent answers that it has not changed", async () => {
    const { reconciler, world } = await setUp();

    await reconciler.resync();
    await reconciler.resync();

    expect(inventoryReadsOf(world).map((call) => call.isUnchanged)).toEqual([true, true]);
  });

  it('finds a VM whose VMM died, from the inventory that changed, and restarts it', async () => {
    const { reconciler, world, host, vms } = await setUp();
    const victim = vms[3]!;
    await reconciler.resync();

    world.agents.killVmm(host.addr, victim.id);
    const report = await reconciler.resync();
    const resyncRead = inventoryReadsOf(world).at(-1);
    await reconciler.idle();

    expect(resyncRead?.isUnchanged).toBe(false);
    expect(report).toMatchObject({ isFull: false, vmsRead: 0, vmsCompared: vmCount, vmsQueued: 1 });
    expect(world.agents.isRunning(host.addr, victim.id)).toBe(true);
    expect((await world.deps.vms.findById(victim.id))?.state).toBe('running');
  });

  it('compares only the VM whose row changed', async () => {
    const { reconciler, world, vms } = await setUp();
    await reconciler.resync();

    await world.deps.vms.recordObservation(vms[5]!.id, 'paused', world.clock.now());
    const report = await reconciler.resync();

    expect(report).toMatchObject({ isFull: false, vmsRead: 1, vmsCompared: 1, vmsQueued: 1 });
  });

  it("reads a restarted Agent's whole inventory and compares the VMs of its host", async () => {
    const { reconciler, world, host } = await setUp();
    await reconciler.resync();

    world.agents.restartAgent(host.addr);
    const report = await reconciler.resync();

    expect(inventoryReadsOf(world).map((call) => call.isUnchanged)).toEqual([true, false]);
    expect(report).toMatchObject({ isFull: false, vmsRead: 0, vmsCompared: vmCount });
  });

  it('still removes what an Agent holds for a VM whose row was deleted since the pass before', async () => {
    const { reconciler, world, host, vms } = await setUp();
    const deleted = vms[7]!;
    await reconciler.resync();

    await world.deps.vms.delete(deleted.id, world.clock.now());
    const report = await reconciler.resync();

    expect(report).toMatchObject({ isFull: false, orphansRemoved: 1, vmsRead: 0 });
    expect(world.agents.vmIdsOn(host.addr)).not.toContain(deleted.id);
    expect(world.agents.vmIdsOn(host.addr)).toHaveLength(vmCount - 1);
  });

  it('compares a VM again when its retry comes due, though nothing was written since', async () => {
    const { reconciler, world, host, vms } = await setUp();
    const victim = vms[2]!;
    // The VMM dies and its restart fails: the next attempt is scheduled, after a backoff.
    world.agents.killVmm(host.addr, victim.id);
    world.agents.failNext('apply', new Error('disk full'));
    for (let pass = 0; pass < 5; pass += 1) {
      const report = await reconciler.resync();
      await reconciler.idle();
      if (report.vmsQueued === 0 && report.vmsRead === 0) break;
    }
    expect(await world.deps.vms.findById(victim.id)).toMatchObject({ state: 'failed' });
    const nextAttemptAt = (await world.deps.reconcileStates.get(victim.id))?.nextAttemptAt;
    if (nextAttemptAt === null || nextAttemptAt === undefined) throw new Error('a failed restart schedules the next');
    expect(await reconciler.resync()).toMatchObject({ vmsRead: 0, vmsCompared: 0 });

    await pass(world, host, nextAttemptAt.getTime() - world.clock.now().getTime());
    const due = await reconciler.resync();
    await reconciler.idle();

    expect(due).toMatchObject({ isFull: false, vmsRead: 0, vmsQueued: 1 });
    expect(due.vmsCompared).toBeLessThan(vmCount);
    expect(await world.deps.vms.findById(victim.id)).toMatchObject({ state: 'running' });
  });

  it('marks the VMs of a host that went quiet unknown, though neither their rows nor the inventory changed', async () => {
    const { reconciler, world, vms } = await setUp();
    await reconciler.resync();
    await reconciler.resync();

    world.clock.advance(3 * heartbeatIntervalMs + 1);
    const report = await reconciler.resync();
    await reconciler.idle();

    expect(report).toMatchObject({ hostsMarkedUnhealthy: 1, vmsQueued: vmCount });
    for (const vm of vms) expect((await world.deps.vms.findById(vm.id))?.state).toBe('unknown');
  });
});

describe('a full resync', () => {
  it('runs every fullResyncEvery-th pass, and first in each term of leadership', async () => {
    const { reconciler, rowsRead } = await setUp({ fullResyncEvery: 3 });
    reconciler.deactivate();
    reconciler.activate();

    const passes = [];
    for (let i = 0; i < 5; i += 1) passes.push(await reconciler.resync());
    reconciler.deactivate();
    reconciler.activate();
    passes.push(await reconciler.resync());

    expect(passes.map((report) => report.isFull)).toEqual([true, false, false, true, false, true]);
    expect(passes.map((report) => report.vmsRead)).toEqual([vmCount, 0, 0, vmCount, 0, vmCount]);
    expect(passes.map((report) => report.vmsCompared)).toEqual([vmCount, 0, 0, vmCount, 0, vmCount]);
    expect(rowsRead()).toBe(3 * vmCount);
  });

  it('starts a new term with one, though a read of what changed begun in the term before ends after it', async () => {
    const { reconciler, world } = await setUp();
    const repository = world.deps.reconcileStates;
    const read = repository.readForResync.bind(repository);
    let begin!: () => void;
    const hasBegun = new Promise<void>((resolve) => (begin = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    repository.readForResync = async (since) => {
      const answer = await read(since);
      begin();
      await released;
      return answer;
    };
    const stale = reconciler.resync();
    await hasBegun;
    reconciler.deactivate();
    reconciler.activate();
    release();
    await stale;
    repository.readForResync = read;

    expect(await reconciler.resync()).toMatchObject({ isFull: true, vmsRead: vmCount, vmsCompared: vmCount });
  });

  it('starts a new term with one, though the term before ended while the rows it read were being applied', async () => {
    // A slice of 0 ms: the event loop turns before each row is applied, and the term ends at the first turn.
    const { reconciler, world } = await setUp({ fullResyncEvery: 2, sliceMs: 0 });
    const repository = world.deps.reconcileStates;
    const read = repository.readForResync.bind(repository);
    repository.readForResync = async (since) => {
      const answer = await read(since);
      setImmediate(() => {
        reconciler.deactivate();
        reconciler.activate();
      });
      return answer;
    };
    const stale = await reconciler.resync();
    repository.readForResync = read;

    expect(stale).toMatchObject({ isFull: true, vmsCompared: 0, vmsQueued: 0 });
    expect(await reconciler.resync()).toMatchObject({ isFull: true, vmsRead: vmCount, vmsCompared: vmCount });
  });
});

/** Passes the time with the host heartbeating as a current Agent does: each beat carries its inventory's tag. */
const passReporting = (world: World, host: Host, ms: number): Promise<void> => pass(world, host, ms, { isTagged: true });

describe('a resync of hosts whose heartbeats carry their inventory tag', () => {
  it('does not read the inventory of a host whose last heartbeat reported the tag of the one held', async () => {
    const { reconciler, world, host } = await setUp();

    await passReporting(world, host, 2 * heartbeatIntervalMs);
    const report = await reconciler.resync();

    expect(report).toMatchObject({ isFull: false, inventoriesRead: 0, inventoriesHeld: 1, vmsQueued: 0 });
    expect(inventoryReadsOf(world)).toEqual([]);
  });

  it('reads the inventory once a heartbeat reports another tag, and restarts the VM whose VMM died', async () => {
    const { reconciler, world, host, vms } = await setUp();
    const victim = vms[3]!;
    await passReporting(world, host, 2 * heartbeatIntervalMs);
    await reconciler.resync();

    world.agents.killVmm(host.addr, victim.id);
    // Until a heartbeat reports the change, the inventory held is the Agent's of the last heartbeat.
    expect(await reconciler.resync()).toMatchObject({ inventoriesRead: 0, inventoriesHeld: 1, vmsQueued: 0 });
    await passReporting(world, host, heartbeatIntervalMs);
    const report = await reconciler.resync();
    const resyncRead = inventoryReadsOf(world).at(-1);
    await reconciler.idle();

    expect(resyncRead?.isUnchanged).toBe(false);
    expect(report).toMatchObject({ inventoriesRead: 1, inventoriesHeld: 0, vmsCompared: vmCount, vmsQueued: 1 });
    expect(world.agents.isRunning(host.addr, victim.id)).toBe(true);
  });

  it("reads a restarted Agent's inventory: the tag it reports names the new process", async () => {
    const { reconciler, world, host } = await setUp();
    await passReporting(world, host, 2 * heartbeatIntervalMs);
    await reconciler.resync();

    world.agents.restartAgent(host.addr);
    await passReporting(world, host, heartbeatIntervalMs);
    const report = await reconciler.resync();

    expect(inventoryReadsOf(world).map((call) => call.isUnchanged)).toEqual([false]);
    expect(report).toMatchObject({ inventoriesRead: 1, inventoriesHeld: 0, vmsCompared: vmCount });
  });

  it('takes the inventory held when the next heartbeat is late by less than an interval', async () => {
    const { reconciler, world, host } = await setUp();
    await passReporting(world, host, 2 * heartbeatIntervalMs);

    // The tag was taken after the heartbeat before the last one: 1 + 1.9 intervals ago.
    world.clock.advance(1.9 * heartbeatIntervalMs);
    const report = await reconciler.resync();

    expect(report).toMatchObject({ hostsWithoutInventory: 0, inventoriesRead: 0, inventoriesHeld: 1 });
    expect(inventoryReadsOf(world)).toEqual([]);
  });

  it('reads the inventory when the last report is older than three heartbeat intervals, though the host is still healthy', async () => {
    const { reconciler, world, host } = await setUp();
    await passReporting(world, host, 2 * heartbeatIntervalMs);

    // The tag was taken after the heartbeat before the last one: 1 + 2.5 intervals ago.
    world.clock.advance(2.5 * heartbeatIntervalMs);
    const report = await reconciler.resync();

    expect(report).toMatchObject({ hostsWithoutInventory: 0, inventoriesRead: 1, inventoriesHeld: 0 });
    expect(inventoryReadsOf(world).map((call) => call.isUnchanged)).toEqual([true]);
  });

  it('reads the inventory of a host whose heartbeat carries no tag, as before', async () => {
    const { reconciler, world, host } = await setUp();

    await pass(world, host, 2 * heartbeatIntervalMs);
    const report = await reconciler.resync();

    expect(report).toMatchObject({ inventoriesRead: 1, inventoriesHeld: 0 });
    expect(inventoryReadsOf(world).map((call) => call.isUnchanged)).toEqual([true]);
  });

  it('reads every inventory on the first pass of a new term: what it held while leading before is dropped', async () => {
    const { reconciler, world, host } = await setUp();
    await passReporting(world, host, 2 * heartbeatIntervalMs);

    reconciler.deactivate();
    reconciler.activate();
    const report = await reconciler.resync();

    expect(report).toMatchObject({ isFull: true, inventoriesRead: 1, inventoriesHeld: 0 });
    expect(inventoryReadsOf(world).map((call) => call.isUnchanged)).toEqual([false]);
  });
});
