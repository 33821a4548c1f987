import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { HttpServer } from '@hearth/http-server';
import type { Host } from '../domain/host.js';
import type { HostId, SnapshotId } from '../domain/ids.js';
import { settleSnapshotCopies } from '../application/use-cases/snapshot-copies.js';
import { buildTestApp } from '../testing/test-app.js';
import { createWorld, type World } from '../testing/world.js';

let world: World;
let app: HttpServer;
let first: Host;

beforeEach(async () => {
  world = createWorld();
  app = await buildTestApp(world.deps);
  first = await world.addHost();
});

afterEach(async () => {
  await app.close();
});

interface VmBody {
  id: string;
  state: string;
  hostId: string;
  failureReason: { code: string } | null;
}

/** A running VM on the first host and a ready snapshot of it. */
async function snapshotted(): Promise<{ source: VmBody; snapshotId: SnapshotId }> {
  const { kernel, rootfs } = await world.addImages();
  const created = await app.inject({
    method: 'POST',
    url: '/v1/vms',
    payload: { name: 'source', vcpuCount: 1, memoryMib: 256, kernelImageId: kernel.id, rootfsImageId: rootfs.id },
  });
  expect(created.statusCode, created.body).toBe(201);
  const source = created.json<VmBody>();
  const snapshot = await app.inject({ method: 'POST', url: `/v1/vms/${source.id}/snapshots`, payload: {} });
  expect(snapshot.statusCode, snapshot.body).toBe(201);
  return { source, snapshotId: snapshot.json<{ id: SnapshotId }>().id };
}

async function snapshotEvents(snapshotId: string, vmId: string): Promise<string[]> {
  const events = (await app.inject({ method: 'GET', url: `/v1/vms/${vmId}/events` })).json<{
    items: { type: string; objectId: string | null; message: string }[];
  }>();
  return events.items.filter((event) => event.objectId === snapshotId).map((event) => `${event.type}: ${event.message}`);
}

async function clone(snapshotId: string, name: string): Promise<{ statusCode: number; body: string; vm: VmBody }> {
  const response = await app.inject({ method: 'POST', url: '/v1/vms', payload: { name, snapshotId } });
  return { statusCode: response.statusCode, body: response.body, vm: response.json<VmBody>() };
}

describe('snapshot files copied to a compatible host on demand', () => {
  it('a clone placed on a host without the files gets a copy first, recorded and evented, then restores there', async () => {
    const { source, snapshotId } = await snapshotted();
    const second = await world.addHost();
    // The snapshot's host takes no new VMs: the clone can only go to the second host.
    await world.deps.hosts.setCordoned(first.id, true, world.clock.now());

    const cloned = await clone(snapshotId, 'far');

    expect(cloned.statusCode, cloned.body).toBe(201);
    expect(cloned.vm).toMatchObject({ hostId: second.id, state: 'running' });
    expect(world.agents.snapshotCopiesOn(second.addr)).toEqual([snapshotId]);
    expect(await world.deps.snapshots.listCopies(snapshotId)).toMatchObject([{ hostId: second.id, state: 'ready' }]);
    expect(await snapshotEvents(snapshotId, source.id)).toEqual(
      expect.arrayContaining([
        `snapshot.copy_started: copying to host ${second.id}`,
        `snapshot.copied: copied to host ${second.id}`,
      ]),
    );
    // The copy comes before the restore that needs it.
    const operations = world.agents.calls.filter((call) => call.addr === second.addr).map((call) => call.operation);
    expect(operations.indexOf('copySnapshot')).toBeLessThan(operations.indexOf('apply'));
  });

  it('prefers a host that holds the files, and copies nothing again to one that has a ready copy', async () => {
    const { snapshotId } = await snapshotted();
    const second = await world.addHost();
    await world.deps.hosts.setCordoned(first.id, true, world.clock.now());
    expect((await clone(snapshotId, 'one')).vm.hostId).toBe(second.id);
    // A third host with more room: without files it loses to the second host, which has them.
    await world.addHost({ capacity: { memoryMibTotal: 1024 * 1024, memoryMibAvailable: 1024 * 1024 } });

    const again = await clone(snapshotId, 'two');

    expect(again.statusCode, again.body).toBe(201);
    expect(again.vm.hostId).toBe(second.id);
    expect(world.agents.calls.filter((call) => call.operation === 'copySnapshot')).toHaveLength(1);
  });

  it('a copy whose file does not match its SHA-256 is refused: the clone fails with the reason, no copy is kept', async () => {
    const { source, snapshotId } = await snapshotted();
    const second = await world.addHost();
    await world.deps.hosts.setCordoned(first.id, true, world.clock.now());
    world.agents.corruptSnapshotFiles(first.addr, snapshotId);

    const cloned = await clone(snapshotId, 'tampered');

    expect(cloned.statusCode, cloned.body).toBe(409);
    expect(cloned.body).toContain('SNAPSHOT_DIGEST_MISMATCH');
    expect(world.agents.snapshotCopiesOn(second.addr)).toEqual([]);
    expect(await world.deps.snapshots.listCopies(snapshotId)).toEqual([]);
    expect(await snapshotEvents(snapshotId, source.id)).toContainEqual(
      expect.stringMatching(/^snapshot\.copy_removed: copy on host .* removed: SNAPSHOT_DIGEST_MISMATCH/),
    );
  });

  it('deleting the snapshot removes its copies on the other hosts', async () => {
    const { snapshotId } = await snapshotted();
    const second = await world.addHost();
    await world.deps.hosts.setCordoned(first.id, true, world.clock.now());
    const cloned = await clone(snapshotId, 'far');
    expect(cloned.vm.state).toBe('running');
    // A clone that runs maps the snapshot's memory (its copy's); once stopped it boots from its own disk.
    expect((await app.inject({ method: 'POST', url: `/v1/vms/${cloned.vm.id}/stop` })).statusCode).toBe(200);

    const deleted = await app.inject({ method: 'DELETE', url: `/v1/snapshots/${snapshotId}` });

    expect(deleted.statusCode, deleted.body).toBe(204);
    expect(world.agents.snapshotCopiesOn(second.addr)).toEqual([]);
  });

  it('a snapshot whose digests were never taken is never placed on a host without its files', async () => {
    world.agents.isTakingDigests = false;
    const { snapshotId } = await snapshotted();
    await world.addHost();
    await world.deps.hosts.setCordoned(first.id, true, world.clock.now());

    const cloned = await clone(snapshotId, 'far');

    // Only the snapshot's own host could take it, and it is cordoned.
    expect(cloned.statusCode, cloned.body).toBe(503);
    expect(cloned.body).toContain('HOST_NO_CAPACITY');
    expect(cloned.body).toContain(first.id);
    expect(world.agents.calls.filter((call) => call.operation === 'copySnapshot')).toEqual([]);
  });
});

describe('settleSnapshotCopies', () => {
  it('removes a copy the host holds with no record behind it (its snapshot deleted while the host was away)', async () => {
    const { snapshotId } = await snapshotted();
    const second = await world.addHost();
    await world.deps.hosts.setCordoned(first.id, true, world.clock.now());
    await clone(snapshotId, 'far');
    await world.deps.snapshots.removeCopy(snapshotId, second.id as HostId, world.clock.now(), 'test');

    const changed = await settleSnapshotCopies(world.deps, second, await world.agents.inventory(second), world.clock.now(), 0);

    expect(changed).toBe(1);
    expect(world.agents.snapshotCopiesOn(second.addr)).toEqual([]);
  });

  it('forgets the record of a copy its host no longer holds, once older than the grace', async () => {
    const { snapshotId } = await snapshotted();
    const second = await world.addHost();
    await world.deps.snapshots.startCopy(snapshotId, second.id, world.clock.now());
    const inventory = await world.agents.inventory(second);

    const askedAt = world.clock.now();
    expect(await settleSnapshotCopies(world.deps, second, inventory, askedAt, 60_000)).toBe(0);
    world.clock.advance(60_000);
    // Settled late from the inventory read at the start: the copy was recorded too recently then.
    expect(await settleSnapshotCopies(world.deps, second, inventory, askedAt, 60_000)).toBe(0);
    const later = await world.agents.inventory(second);
    expect(await settleSnapshotCopies(world.deps, second, later, world.clock.now(), 60_000)).toBe(1);
    expect(await world.deps.snapshots.listCopies(snapshotId)).toEqual([]);
  });
});
