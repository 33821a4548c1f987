import { describe, expect, it } from 'vitest';
import { AppError } from '@hearth/errors';
import { ManualTimers } from '../../adapters/fake/manual-timers.js';
import type { VmId } from '../../domain/ids.js';
import { createWorld, silentLog } from '../../testing/world.js';
import type { VmRepository } from '../ports/vm-repository.js';
import { continueCreate } from '../use-cases/continue-create.js';
import { acceptVm } from '../use-cases/create-vm.js';
import { deleteVm } from '../use-cases/delete-vm.js';
import { VmStateWaiters } from './vm-state-waiters.js';

const recheckMs = 15_000;

/** Lets the feed's and the waiters' queued tasks run (no time passes: the timers are manual). */
const settled = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function setUp() {
  const world = createWorld();
  await world.addHost();
  const { kernel, rootfs } = await world.addImages();
  const pending = await acceptVm(world.deps, {
    project: 'default',
    name: 'web',
    vcpuCount: 1,
    memoryMib: 256,
    kernelImageId: kernel.id,
    rootfsImageId: rootfs.id,
  });
  const reads: VmId[] = [];
  const counted: VmRepository = Object.create(world.repos.vms, {
    findById: { value: async (id: VmId) => (reads.push(id), world.repos.vms.findById(id)) },
  }) as VmRepository;
  const timers = new ManualTimers();
  const waiters = new VmStateWaiters({ vms: counted, eventFeed: world.repos.eventFeed, timers, log: silentLog }, { recheckMs });
  return { world, pending, reads, timers, waiters };
}

describe('VmStateWaiters', () => {
  it('reads a VM once per batch of its events for all its waiters, not once per waiter', async () => {
    const { world, pending, reads, waiters } = await setUp();
    const waits = Array.from({ length: 100 }, () => waiters.wait(pending.id, 'running', { timeoutMs: 60_000 }));
    await settled();
    expect(reads).toHaveLength(100); // each wait reads the VM once when it starts
    await continueCreate(world.deps, pending.id); // pending → scheduled → starting → running: 3 events
    const results = await Promise.all(waits);
    expect(results.every((r) => r.outcome === 'reached' && r.vm.state === 'running')).toBe(true);
    expect(reads.length - 100).toBeLessThanOrEqual(3);
  });

  it('answers timed_out with the VM as last read when time runs out', async () => {
    const { pending, timers, waiters } = await setUp();
    const waiting = waiters.wait(pending.id, 'running', { timeoutMs: 5_000 });
    await settled();
    timers.advance(5_000);
    expect(await waiting).toMatchObject({ outcome: 'timed_out', vm: { id: pending.id, state: 'pending' } });
  });

  it('answers failed when the VM fails on the way', async () => {
    const { world, pending, waiters } = await setUp();
    const waiting = waiters.wait(pending.id, 'running', { timeoutMs: 60_000 });
    world.agents.failNext('apply', new AppError('VMM_SPAWN_FAILED', 'no firecracker'));
    await continueCreate(world.deps, pending.id).catch(() => undefined);
    expect(await waiting).toMatchObject({ outcome: 'failed', vm: { state: 'failed' } });
  });

  it('answers VM_NOT_FOUND when the VM is deleted meanwhile', async () => {
    const { world, pending, waiters } = await setUp();
    const waiting = waiters.wait(pending.id, 'running', { timeoutMs: 60_000 });
    await settled();
    await deleteVm(world.deps, pending.id);
    await expect(waiting).rejects.toMatchObject({ code: 'VM_NOT_FOUND' });
  });

  it('rechecks each waited VM once per interval, however many wait on it', async () => {
    const { pending, reads, timers, waiters } = await setUp();
    const abort = new AbortController();
    const waits = Array.from({ length: 10 }, () =>
      waiters.wait(pending.id, 'running', { timeoutMs: 60_000, signal: abort.signal }),
    );
    await settled();
    reads.length = 0;
    timers.advance(recheckMs);
    await settled();
    expect(reads).toEqual([pending.id]);
    abort.abort();
    expect((await Promise.all(waits)).map((r) => r.outcome)).toEqual(Array(10).fill('timed_out'));
  });

  it('leaves no feed subscription nor timer behind once every wait ended', async () => {
    const { world, pending, timers, waiters } = await setUp();
    const abort = new AbortController();
    const waits = [
      waiters.wait(pending.id, 'running', { timeoutMs: 1_000 }),
      waiters.wait(pending.id, 'running', { timeoutMs: 60_000, signal: abort.signal }),
    ];
    await settled();
    expect(world.repos.eventFeed.listenerCount).toBe(1);
    abort.abort();
    timers.advance(1_000);
    expect((await Promise.all(waits)).map((r) => r.outcome)).toEqual(['timed_out', 'timed_out']);
    expect(waiters.waiterCount).toBe(0);
    expect(world.repos.eventFeed.listenerCount).toBe(0);
    expect(timers.pendingCount).toBe(0);
  });
});
