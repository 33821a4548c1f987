import { describe, expect, it } from 'vitest';
import { AppError } from '@hearth/errors';
import { agentAuthorization, createWorld, hostCapacity, hostFacts, type World } from '../../testing/world.js';
import type { Host } from '../../domain/host.js';
import { defaultRetryPolicy } from '../../domain/restart-policy.js';
import type { Vm } from '../../domain/vm.js';
import type { ReconcileStateRepository } from '../ports/reconcile-state-repository.js';
import { createVm } from '../use-cases/create-vm.js';
import { heartbeat } from '../use-cases/heartbeat.js';
import { stopVm } from '../use-cases/stop-vm.js';
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
  hooks: ReconcilerHooks;
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
  const counted = reconcilerOver(world, options);
  const { reconciler } = counted;
  reconciler.activate();
  // The first passes settle whatever differs from what the host holds: let them (unless asked not to).
  for (let pass = 0; pass < (options.isSettled === false ? 0 : 5); pass += 1) {
    const report = await reconciler.resync();
    await reconciler.idle();
    if (report.vmsQueued === 0 && report.vmsRead === 0) break;
  }
  world.agents.calls.splice(0);
  counted.resetRowsRead();
  return { world, host, vms, reconciler, rowsRead: counted.rowsRead, hooks: counted.hooks };
}

/** What a test may run inside a reconciler's work. */
interface ReconcilerHooks {
  /** Run as a pass reads the VM rows (after the hosts and their inventories, before the comparison). */
  duringRowsRead?: () => Promise<void>;
  /** Run as a VM reconcile reads the VM's retry state (after its reads of the VM, before it acts). */
  duringRetryRead?: () => Promise<void>;
}

/** A reconciler of the world (as another replica's would be: not leading), the VM rows it reads counted, and its hooks. */
function reconcilerOver(
  world: World,
  options: { fullResyncEvery?: number; sliceMs?: number } = {},
): {
  reconciler: Reconciler;
  rowsRead: () => number;
  resetRowsRead: () => void;
  hooks: ReconcilerHooks;
} {
  let read = 0;
  const hooks: ReconcilerHooks = {};
  const reconcileStates: ReconcileStateRepository = {
    ...world.deps.reconcileStates,
    get: async (vmId) => {
      await hooks.duringRetryRead?.();
      return world.deps.reconcileStates.get(vmId);
    },
    readForResync: async (since, readOptions) => {
      await hooks.duringRowsRead?.();
      const answer = await world.deps.reconcileStates.readForResync(since, readOptions);
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
  return { reconciler, rowsRead: () => read, resetRowsRead: () => void (read = 0), hooks };
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

  it('judges a host by its heartbeats as they are when it compares: a pass that outlasts the tolerance queues none of its VMs', async () => {
    const { reconciler, world, host, vms, hooks } = await setUp();
    await reconciler.resync();
    // Reading the rows takes four heartbeat intervals (100,000 of them, say); the host beats meanwhile.
    hooks.duringRowsRead = () => pass(world, host, 4 * heartbeatIntervalMs);
    const long = await reconciler.resync();
    hooks.duringRowsRead = undefined;
    await reconciler.idle();

    expect(long).toMatchObject({ hostsMarkedUnhealthy: 0, vmsQueued: 0 });
    expect(world.agents.calls.filter((call) => call.operation === 'describe')).toHaveLength(0);
    for (const vm of vms) expect((await world.deps.vms.findById(vm.id))?.state).toBe('running');
  });

  it('takes back the VMs it queued while their host was quiet once the host is back and they run: their Agent is not asked for each', async () => {
    const { reconciler, world, host, vms, hooks } = await setUp();
    await reconciler.resync();
    world.clock.advance(3 * heartbeatIntervalMs + 1);
    let release = (): void => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    hooks.duringRetryRead = () => held;
    const quiet = await reconciler.resync();
    expect(quiet).toMatchObject({ hostsMarkedUnhealthy: 1, vmsQueued: vmCount });

    // The host heartbeats again before the queue reaches most of its VMs (2 reconciles run at a time).
    await pass(world, host, heartbeatIntervalMs);
    const back = await reconciler.resync();
    hooks.duringRetryRead = undefined;
    release();
    await reconciler.idle();

    expect(back).toMatchObject({ hostsMarkedUnhealthy: 0, vmsQueued: 0 });
    expect(world.agents.calls.filter((call) => call.operation === 'describe')).toHaveLength(0);
    // The two reconciles already under way saw the host back before acting, and left their VMs be.
    for (const vm of vms) expect((await world.deps.vms.findById(vm.id))?.state).toBe('running');
  });
});

describe('a full resync', () => {
  it("compares every VM every fullResyncEvery-th pass, reading every row; a term's first pass compares only what changed", async () => {
    const { reconciler, rowsRead } = await setUp({ fullResyncEvery: 3 });
    reconciler.deactivate();
    reconciler.activate();

    const passes = [];
    for (let i = 0; i < 5; i += 1) passes.push(await reconciler.resync());
    reconciler.deactivate();
    reconciler.activate();
    passes.push(await reconciler.resync());

    // The terms' first passes read no row and compare no VM: nothing changed since the last comparison.
    for (const first of [passes[0], passes[5]]) expect(first).toMatchObject({ isFull: false, vmsRead: 0, vmsCompared: 0 });
    // Between them, a pass reads and compares nothing, or (every third refresh) every row and every VM.
    const between = passes.slice(1, 5).map((report) => [report.isFull, report.vmsRead, report.vmsCompared]);
    for (const figures of between)
      expect([
        [false, 0, 0],
        [true, vmCount, vmCount],
      ]).toContainEqual(figures);
    const wholeReads = between.filter(([isFull]) => isFull === true).length;
    expect(wholeReads).toBeGreaterThanOrEqual(1);
    expect(rowsRead()).toBe(wholeReads * vmCount);
  });

  it('applies a read of what changed begun in the term before, and compares its VM on the first pass of the next', async () => {
    const { reconciler, world, vms } = await setUp();
    const repository = world.deps.reconcileStates;
    const read = repository.readForResync.bind(repository);
    let begin!: () => void;
    const hasBegun = new Promise<void>((resolve) => (begin = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    repository.readForResync = async (since, options) => {
      const answer = await read(since, options);
      begin();
      await released;
      return answer;
    };
    await world.deps.vms.recordObservation(vms[4]!.id, 'paused', world.clock.now());
    const stale = reconciler.resync();
    await hasBegun;
    reconciler.deactivate();
    reconciler.activate();
    release();
    expect(await stale).toMatchObject({ vmsQueued: 0, vmsCompared: 0 });
    repository.readForResync = read;

    const first = await reconciler.resync();

    // The row was read in the term before and compared in none: this pass reads nothing, yet compares it.
    expect(first).toMatchObject({ isFull: false, vmsRead: 0, vmsCompared: 1, vmsQueued: 1 });
  });

  it('compares every VM on the first pass of a term, though the term before ended while the rows it read were being applied', async () => {
    // A slice of 0 ms: the event loop turns before each row is applied, and the term ends at the first turn.
    const { reconciler, world } = await setUp({ fullResyncEvery: 2, sliceMs: 0 });
    const repository = world.deps.reconcileStates;
    const read = repository.readForResync.bind(repository);
    repository.readForResync = async (since, options) => {
      const answer = await read(since, options);
      setImmediate(() => {
        reconciler.deactivate();
        reconciler.activate();
      });
      return answer;
    };
    const stale = await reconciler.resync();
    repository.readForResync = read;

    expect(stale).toMatchObject({ vmsCompared: 0, vmsQueued: 0 });
    expect(await reconciler.resync()).toMatchObject({ isFull: true, vmsCompared: vmCount });
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

  it('takes the inventory held while leading before on the first pass of a new term, when the last heartbeat names its tag', async () => {
    const { reconciler, world, host } = await setUp();
    await passReporting(world, host, 2 * heartbeatIntervalMs);

    reconciler.deactivate();
    reconciler.activate();
    const report = await reconciler.resync();

    // It compares the VMs whose creates' grace has just ended (the time passed), and queues none.
    expect(report).toMatchObject({ isFull: false, inventoriesRead: 0, inventoriesHeld: 1, vmsCompared: vmCount, vmsQueued: 0 });
    expect(inventoryReadsOf(world)).toEqual([]);
  });
});

/** A settled world with a follower beside its leader, warmed up: it followed once, with every heartbeat tagged. */
async function setUpFollower(
  options: { sliceMs?: number } = {},
): Promise<Awaited<ReturnType<typeof setUp>> & { follower: Reconciler; followerRowsRead: () => number }> {
  const led = await setUp();
  const { reconciler: follower, rowsRead: followerRowsRead } = reconcilerOver(led.world, options);
  await passReporting(led.world, led.host, 2 * heartbeatIntervalMs);
  await follower.follow();
  await follower.idle();
  return { ...led, follower, followerRowsRead };
}

/** The leader is gone (its process killed: it does nothing more) and the follower takes over. */
function failOver(follower: Reconciler, world: World): void {
  world.agents.calls.splice(0);
  follower.activate();
}

describe('a warm follower', () => {
  it('reads every row once, then only what changed, and each inventory whose reported tag it does not hold, once', async () => {
    const { world, host, vms, reconciler } = await setUp();
    const { reconciler: follower, rowsRead } = reconcilerOver(world);
    await passReporting(world, host, 2 * heartbeatIntervalMs);

    const first = await follower.follow();
    await follower.idle();
    const quiet = await follower.follow();
    await follower.idle();
    await world.deps.vms.recordObservation(vms[1]!.id, 'paused', world.clock.now());
    world.agents.killVmm(host.addr, vms[2]!.id);
    await passReporting(world, host, heartbeatIntervalMs);
    const changed = await follower.follow();
    await follower.idle();
    const settled = await follower.follow();

    // It compares every VM first, then those of the row read and of the host whose inventory moved,
    // then the two it found needing work (the row that differs from its host, the VMM that died).
    expect([first, quiet, changed, settled]).toEqual([
      { vmsRead: vmCount, inventoriesPlanned: 1, vmsCompared: vmCount },
      { vmsRead: 0, inventoriesPlanned: 0, vmsCompared: 0 },
      { vmsRead: 1, inventoriesPlanned: 1, vmsCompared: vmCount },
      { vmsRead: 0, inventoriesPlanned: 0, vmsCompared: 2 },
    ]);
    expect(rowsRead()).toBe(vmCount + 1);
    expect(inventoryReadsOf(world).map((call) => call.isUnchanged)).toEqual([false, false]);
    // What the follower read leaves the leader's own passes as they were.
    expect(await reconciler.resync()).toMatchObject({ inventoriesRead: 1, vmsRead: 1 });
  });

  it('sends no Agent a change and writes nothing, whatever differs between the rows and the hosts', async () => {
    const { world, host, vms, follower } = await setUpFollower();
    world.agents.killVmm(host.addr, vms[3]!.id);
    await world.deps.vms.delete(vms[4]!.id, world.clock.now());
    await world.deps.vms.recordObservation(vms[5]!.id, 'paused', world.clock.now());
    const rowsBefore = await Promise.all(vms.map((vm) => world.deps.vms.findById(vm.id)));
    world.agents.calls.splice(0);

    for (let interval = 0; interval < 4; interval += 1) {
      await passReporting(world, host, heartbeatIntervalMs);
      follower.vmChanged(vms[5]!.id);
      follower.hostChanged(host.id);
      await follower.follow();
      await follower.idle();
    }

    expect(world.agents.calls.map((call) => call.operation)).toEqual(['inventory']);
    expect(await Promise.all(vms.map((vm) => world.deps.vms.findById(vm.id)))).toEqual(rowsBefore);
    expect(world.agents.vmIdsOn(host.addr)).toContain(vms[4]!.id);
    expect(world.agents.isRunning(host.addr, vms[3]!.id)).toBe(false);
  });

  it("reads on its term's first pass only the rows that changed and no inventory whose tag is current, and compares only their VMs", async () => {
    const { world, host, vms, follower, followerRowsRead } = await setUpFollower();
    await world.deps.vms.recordObservation(vms[6]!.id, 'paused', world.clock.now());
    await passReporting(world, host, heartbeatIntervalMs);

    failOver(follower, world);
    const first = await follower.resync();

    expect(first).toMatchObject({
      isFull: false,
      vmsRead: 1,
      vmsCompared: 1,
      inventoriesRead: 0,
      inventoriesHeld: 1,
      vmsQueued: 1,
    });
    expect(followerRowsRead()).toBe(vmCount + 1);
    expect(inventoryReadsOf(world)).toEqual([]);
  });

  it("reads on its term's first pass an inventory whose tag moved since it read it, and restarts the VM whose VMM died", async () => {
    const { world, host, vms, follower } = await setUpFollower();
    const victim = vms[8]!;
    world.agents.killVmm(host.addr, victim.id);
    await passReporting(world, host, heartbeatIntervalMs);

    failOver(follower, world);
    const first = await follower.resync();
    await follower.idle();

    expect(first).toMatchObject({ inventoriesRead: 1, inventoriesHeld: 0, vmsQueued: 1 });
    expect(inventoryReadsOf(world).map((call) => call.isUnchanged)).toEqual([false]);
    expect(world.agents.isRunning(host.addr, victim.id)).toBe(true);
  });

  it("reads on its term's first pass a row changed after its watermark, and removes what the host holds of a VM deleted since", async () => {
    const { world, host, vms, follower } = await setUpFollower();
    const deleted = vms[9]!;
    await world.deps.vms.delete(deleted.id, world.clock.now());
    await world.deps.vms.recordObservation(vms[10]!.id, 'paused', world.clock.now());

    failOver(follower, world);
    const first = await follower.resync();
    await follower.idle();

    expect(first).toMatchObject({ vmsRead: 1, vmsCompared: 1, orphansRemoved: 1, vmsQueued: 1 });
    expect(world.agents.vmIdsOn(host.addr)).not.toContain(deleted.id);
    expect(await world.deps.vms.findById(vms[10]!.id)).toMatchObject({ observedState: 'running' });
  });

  it("reads every row on its term's first pass when it holds a row whose deletion the leader forgot before it read it", async () => {
    const { world, vms, follower, reconciler } = await setUpFollower();
    await world.deps.vms.delete(vms[11]!.id, world.clock.now());
    // The leader's next passes include a whole read, which forgets the deletion.
    for (let pass = 0; pass < 12; pass += 1) await reconciler.resync();

    failOver(follower, world);
    const first = await follower.resync();

    expect(first).toMatchObject({ isFull: true, vmsRead: vmCount - 1, vmsCompared: vmCount - 1 });
  });

  it("queues on its term's first pass a VM it found needing work while following, though nothing changed since, and restarts it", async () => {
    const { world, host, vms, follower } = await setUpFollower();
    const victim = vms[13]!;
    world.agents.killVmm(host.addr, victim.id);
    await passReporting(world, host, heartbeatIntervalMs);
    // It reads the inventory whose tag moved and compares the host's VMs again; then only the one that needs work.
    for (let interval = 0; interval < 2; interval += 1) {
      await follower.follow();
      await follower.idle();
    }
    const quiet = await follower.follow();

    failOver(follower, world);
    const first = await follower.resync();
    await follower.idle();

    expect(quiet).toEqual({ vmsRead: 0, inventoriesPlanned: 0, vmsCompared: 1 });
    expect(first).toMatchObject({ isFull: false, vmsRead: 0, inventoriesRead: 0, vmsCompared: 1, vmsQueued: 1 });
    expect(world.agents.isRunning(host.addr, victim.id)).toBe(true);
  });

  it("compares on its term's first pass a VM whose grace ended after it last followed, and finishes its stop", async () => {
    const { world, host, vms, follower } = await setUpFollower();
    const stopping = vms[14]!;
    const timeout = new AppError('AGENT_UNAVAILABLE', 'did not answer in time', { details: { reason: 'timeout' } });
    world.agents.failNext('stop', timeout);
    expect(await stopVm(world.deps, stopping.id)).toMatchObject({ state: 'stopping' });
    // Its row is read and compared: within its grace, nothing to do before the grace ends.
    const followed = await follower.follow();
    await follower.idle();
    await passReporting(world, host, graceMs);

    failOver(follower, world);
    const first = await follower.resync();
    await follower.idle();

    expect(followed).toMatchObject({ vmsRead: 1, vmsCompared: 1 });
    expect(first).toMatchObject({ isFull: false, vmsRead: 0, vmsCompared: 1, vmsQueued: 1 });
    expect(await world.deps.vms.findById(stopping.id)).toMatchObject({ state: 'stopped' });
    expect(world.agents.isRunning(host.addr, stopping.id)).toBe(false);
  });

  it("compares every VM on its term's first pass when its last comparison was cut short, and restarts the VM whose VMM died", async () => {
    // A slice of 0 ms: the event loop turns before each VM is compared, and it leads from the first turn.
    const { world, host, vms, follower } = await setUpFollower({ sliceMs: 0 });
    const victim = vms[15]!;
    world.agents.killVmm(host.addr, victim.id);
    await passReporting(world, host, heartbeatIntervalMs);
    const repository = world.deps.reconcileStates;
    const read = repository.readForResync.bind(repository);
    repository.readForResync = async (since, readOptions) => {
      const answer = await read(since, readOptions);
      setImmediate(() => failOver(follower, world));
      return answer;
    };
    // The host's inventory moved: its VMs are to be compared, and none is before it leads.
    const cut = await follower.follow();
    repository.readForResync = read;
    const first = await follower.resync();
    await follower.idle();

    expect(cut).toMatchObject({ vmsCompared: 0 });
    expect(first).toMatchObject({ isFull: true, vmsRead: 0, vmsCompared: vmCount, vmsQueued: 1 });
    expect(world.agents.isRunning(host.addr, victim.id)).toBe(true);
  });

  it("reads the VM's own entry for a reconcile in its new term: the follower's inventory reads are not reads of the term", async () => {
    const { world, vms, follower } = await setUpFollower();

    failOver(follower, world);
    await follower.reconcileVm(vms[0]!.id);

    expect(world.agents.calls.map((call) => call.operation)).toEqual(['describe']);
  });
});
