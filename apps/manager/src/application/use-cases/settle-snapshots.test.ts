import { describe, expect, it } from 'vitest';
import type { Host } from '../../domain/host.js';
import type { SnapshotId } from '../../domain/ids.js';
import type { Snapshot } from '../../domain/snapshot.js';
import type { Vm } from '../../domain/vm.js';
import { createWorld, type World } from '../../testing/world.js';
import { createVm } from './create-vm.js';
import { settleSnapshots } from './snapshots.js';

const graceMs = 1000;

async function setUp(): Promise<{ world: World; host: Host; vm: Vm }> {
  const world = createWorld();
  const host = await world.addHost();
  const { kernel, rootfs } = await world.addImages();
  const vm = await createVm(world.deps, {
    project: 'default',
    name: 'web',
    vcpuCount: 1,
    memoryMib: 256,
    kernelImageId: kernel.id,
    rootfsImageId: rootfs.id,
  });
  return { world, host, vm };
}

/** What a Manager that stopped right after recording the snapshot leaves: a `creating` row. */
async function creatingRow(world: World, vm: Vm): Promise<Snapshot> {
  const now = world.clock.now();
  const snapshot: Snapshot = {
    id: world.deps.ids.snapshotId(),
    vmId: vm.id,
    project: vm.project,
    hostId: vm.hostId,
    state: 'creating',
    sizes: null,
    pauseMs: null,
    fingerprint: null,
    digests: null,
    type: 'full',
    parentId: null,
    chainDepth: 0,
    mergedFrom: null,
    expiresAt: null,
    failureReason: null,
    createdAt: now,
    updatedAt: now,
  };
  await world.deps.snapshots.insert(snapshot);
  return snapshot;
}

/** Settles the host from an inventory asked for now. */
async function settle(world: World, host: Host): Promise<number> {
  return settleSnapshots(world.deps, host, await world.agents.inventory(host), world.clock.now(), graceMs);
}

describe('settleSnapshots', () => {
  it('goes on at once with a merge nobody is waiting for, and makes it ready with what the host answers', async () => {
    const { world, host, vm } = await setUp();
    const full = await creatingRow(world, vm);
    const taken = await world.agents.snapshotVm(host, vm.id, full.id, { afterwards: 'previous_state' });
    await world.deps.snapshots.finish(
      full.id,
      {
        state: 'ready',
        sizes: { stateBytes: 1, memoryBytes: 1, rootfsBytes: 1 },
        pauseMs: 1,
        fingerprint: {
          vmmKind: 'double',
          vmmVersion: taken.vmmVersion,
          kernelImageId: vm.kernelImageId,
          kernelSha256: 'a'.repeat(64),
        },
        digests: null,
      },
      world.clock.now(),
    );
    const now = world.clock.now();
    const merge: Snapshot = {
      ...(await world.deps.snapshots.findById(full.id))!,
      id: world.deps.ids.snapshotId(),
      state: 'creating',
      mergedFrom: full.id,
      createdAt: now,
      updatedAt: now,
    };
    await world.deps.snapshots.insert(merge);

    expect(await settle(world, host)).toBe(1);
    expect(await world.deps.snapshots.findById(merge.id)).toMatchObject({ state: 'ready', pauseMs: 0, mergedFrom: full.id });
  });

  it('makes a creating snapshot the host holds ready, with what the host answers for it', async () => {
    const { world, host, vm } = await setUp();
    const row = await creatingRow(world, vm);
    const taken = await world.agents.snapshotVm(host, vm.id, row.id, { afterwards: 'previous_state' });

    expect(await settle(world, host)).toBe(1);

    expect(await world.deps.snapshots.findById(row.id)).toMatchObject({
      state: 'ready',
      pauseMs: taken.pauseMs,
      sizes: { stateBytes: 4096, memoryBytes: 256 * 1024 * 1024, rootfsBytes: 64 * 1024 * 1024 },
      fingerprint: { vmmVersion: '1.16.1', kernelImageId: vm.kernelImageId },
    });
  });

  it('measures the grace at the inventory read: a snapshot recorded after it is left alone, however late the settling', async () => {
    const { world, host, vm } = await setUp();
    const inventory = await world.agents.inventory(host);
    const askedAt = world.clock.now();
    world.clock.advance(graceMs);
    // Recorded after that inventory was read (so missing from it), and the host is settled much later.
    const recent = await creatingRow(world, vm);
    world.clock.advance(10 * graceMs);
    expect(await settleSnapshots(world.deps, host, inventory, askedAt, graceMs)).toBe(0);
    expect((await world.deps.snapshots.findById(recent.id))?.state).toBe('creating');
    // An inventory asked for a grace after it was recorded, still without it: interrupted.
    expect(await settleSnapshots(world.deps, host, inventory, new Date(recent.updatedAt.getTime() + graceMs), graceMs)).toBe(1);
    expect((await world.deps.snapshots.findById(recent.id))?.state).toBe('failed');
  });

  it('leaves a creating snapshot the host does not hold to its request within the grace, then fails it', async () => {
    const { world, host, vm } = await setUp();
    const row = await creatingRow(world, vm);

    expect(await settle(world, host)).toBe(0);
    expect((await world.deps.snapshots.findById(row.id))?.state).toBe('creating');

    world.clock.advance(graceMs);
    expect(await settle(world, host)).toBe(1);
    expect(await world.deps.snapshots.findById(row.id)).toMatchObject({
      state: 'failed',
      failureReason: { code: 'SNAPSHOT_INTERRUPTED' },
    });
  });

  it('has the host remove a snapshot whose record failed or is gone', async () => {
    const { world, host, vm } = await setUp();
    const failed = await creatingRow(world, vm);
    await world.agents.snapshotVm(host, vm.id, failed.id, { afterwards: 'previous_state' });
    await world.deps.snapshots.finish(
      failed.id,
      { state: 'failed', failureReason: { code: 'X', message: 'lost' } },
      world.clock.now(),
    );
    const unrecorded = world.deps.ids.snapshotId();
    await world.agents.snapshotVm(host, vm.id, unrecorded, { afterwards: 'previous_state' });
    const kept = await creatingRow(world, vm);
    await world.agents.snapshotVm(host, vm.id, kept.id, { afterwards: 'previous_state' });

    await settle(world, host);

    expect(world.agents.snapshotIdsOf(host.addr, vm.id)).toEqual([kept.id]);
    expect((await world.deps.snapshots.findById(kept.id))?.state).toBe('ready');
    expect(await world.deps.snapshots.findById(failed.id as SnapshotId)).toMatchObject({ state: 'failed' });
  });
});
