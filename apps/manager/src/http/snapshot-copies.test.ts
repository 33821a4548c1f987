import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { agentCapabilities } from '@hearth/contracts';
import type { HttpServer } from '@hearth/http-server';
import type { Host } from '../domain/host.js';
import type { HostId, SnapshotId } from '../domain/ids.js';
import { ensureSnapshotOnHost, settleSnapshotCopies } from '../application/use-cases/snapshot-copies.js';
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

/** A running VM on the first host with a full snapshot and two diffs on top of it, root first. */
async function chainOfThree(): Promise<{ source: VmBody; chain: SnapshotId[] }> {
  const { source, snapshotId } = await snapshotted();
  const chain = [snapshotId];
  for (const _ of [1, 2]) {
    const diff = await app.inject({ method: 'POST', url: `/v1/vms/${source.id}/snapshots`, payload: { type: 'diff' } });
    expect(diff.statusCode, diff.body).toBe(201);
    chain.push(diff.json<{ id: SnapshotId }>().id);
  }
  return { source, chain };
}

/** The snapshots copied to `addr`, in the order they were asked, with what each copy request named. */
function copiesAskedOf(addr: string): { snapshotId: string; parentId?: string; hasRegionsDigest: boolean }[] {
  return world.agents.copyRequests
    .filter((asked) => asked.addr === addr)
    .map(({ snapshotId, request }) => ({
      snapshotId,
      ...(request.parentId === undefined ? {} : { parentId: request.parentId }),
      hasRegionsDigest: request.digests.memoryRegionsSha256 !== undefined,
    }));
}

describe('diff snapshots copied to another host with their chain', () => {
  it('a clone of a diff on a host without its files gets the whole chain copied, parents first, then restores there', async () => {
    const { chain } = await chainOfThree();
    const [full, diffOne, diffTwo] = chain as [SnapshotId, SnapshotId, SnapshotId];
    const other = await world.addHost();
    await world.deps.hosts.setCordoned(first.id, true, world.clock.now());

    const cloned = await clone(diffTwo, 'far');

    expect(cloned.statusCode, cloned.body).toBe(201);
    expect(cloned.vm).toMatchObject({ hostId: other.id, state: 'running' });
    expect(copiesAskedOf(other.addr)).toEqual([
      { snapshotId: full, hasRegionsDigest: false },
      { snapshotId: diffOne, parentId: full, hasRegionsDigest: true },
      { snapshotId: diffTwo, parentId: diffOne, hasRegionsDigest: true },
    ]);
    for (const id of chain)
      expect(await world.deps.snapshots.listCopies(id)).toMatchObject([{ hostId: other.id, state: 'ready' }]);
  });

  it('reuses an ancestor already copied to the host, and copies only what the host lacks', async () => {
    const { chain } = await chainOfThree();
    const [full, diffOne, diffTwo] = chain as [SnapshotId, SnapshotId, SnapshotId];
    const other = await world.addHost();
    await world.deps.hosts.setCordoned(first.id, true, world.clock.now());
    expect((await clone(full, 'of-full')).vm.hostId).toBe(other.id);

    const cloned = await clone(diffTwo, 'of-diff');

    expect(cloned.statusCode, cloned.body).toBe(201);
    expect(copiesAskedOf(other.addr).map((asked) => asked.snapshotId)).toEqual([full, diffOne, diffTwo]);
  });

  it('a diff whose own copy fails leaves nothing of it on the host; the ancestors copied whole stay, ready and recorded', async () => {
    const { chain } = await chainOfThree();
    const [full, diffOne, diffTwo] = chain as [SnapshotId, SnapshotId, SnapshotId];
    const other = await world.addHost();
    await world.deps.hosts.setCordoned(first.id, true, world.clock.now());
    world.agents.corruptSnapshotFiles(first.addr, diffTwo);

    const cloned = await clone(diffTwo, 'tampered');

    expect(cloned.statusCode, cloned.body).toBe(409);
    expect(cloned.body).toContain('SNAPSHOT_DIGEST_MISMATCH');
    expect(world.agents.snapshotCopiesOn(other.addr).sort()).toEqual([full, diffOne].sort());
    expect(await world.deps.snapshots.listCopies(diffTwo)).toEqual([]);
    expect(await world.deps.snapshots.listCopies(diffOne)).toMatchObject([{ hostId: other.id, state: 'ready' }]);
  });

  it('refuses a chain holding a diff taken before its memory layout was recorded, copying nothing: diff_not_copied', async () => {
    world.agents.isTakingRegionDigests = false;
    const { source, snapshotId } = await snapshotted();
    const older = await app.inject({ method: 'POST', url: `/v1/vms/${source.id}/snapshots`, payload: { type: 'diff' } });
    world.agents.isTakingRegionDigests = true;
    const newer = await app.inject({ method: 'POST', url: `/v1/vms/${source.id}/snapshots`, payload: { type: 'diff' } });
    const newerId = newer.json<{ id: SnapshotId }>().id;
    const other = await world.addHost();

    const refused = await ensureSnapshotOnHost(world.deps, newerId, other).catch((error: unknown) => error);

    expect(refused).toMatchObject({
      code: 'SNAPSHOT_INCOMPATIBLE',
      details: { snapshotId: newerId, hosts: [{ hostId: other.id, reason: 'diff_not_copied' }] },
    });
    expect((refused as Error).message).toContain(older.json<{ id: string }>().id);
    expect(world.agents.calls.filter((call) => call.operation === 'copySnapshot')).toEqual([]);
    expect(await world.deps.snapshots.listCopies(snapshotId)).toEqual([]);
    // With the origin cordoned, nothing can take it: each other host says why.
    await world.deps.hosts.setCordoned(first.id, true, world.clock.now());
    const cloned = await clone(newerId, 'far');
    expect(cloned.statusCode, cloned.body).toBe(503);
  });

  it('a copied ancestor stays while a diff needs it: its delete is refused, and the chain deleted leaf first removes every copy', async () => {
    const { source, chain } = await chainOfThree();
    const [full, diffOne, diffTwo] = chain as [SnapshotId, SnapshotId, SnapshotId];
    const other = await world.addHost();
    await world.deps.hosts.setCordoned(first.id, true, world.clock.now());
    const cloned = await clone(diffTwo, 'far');
    expect((await app.inject({ method: 'DELETE', url: `/v1/vms/${cloned.vm.id}` })).statusCode).toBe(200);

    const parentDelete = await app.inject({ method: 'DELETE', url: `/v1/snapshots/${diffOne}` });

    expect(parentDelete.statusCode, parentDelete.body).toBe(409);
    expect(parentDelete.json<{ code: string }>().code).toBe('SNAPSHOT_HAS_DIFFS');
    expect(world.agents.snapshotCopiesOn(other.addr).sort()).toEqual([...chain].sort());
    for (const id of [diffTwo, diffOne, full]) {
      const deleted = await app.inject({ method: 'DELETE', url: `/v1/snapshots/${id}` });
      expect(deleted.statusCode, deleted.body).toBe(204);
      expect(world.agents.snapshotCopiesOn(other.addr)).not.toContain(id);
    }
    expect(world.agents.snapshotCopiesOn(other.addr)).toEqual([]);
    expect(source.hostId).toBe(first.id);
  });
});

describe('snapshot copies to Agents of older versions', () => {
  /** An Agent from before these capabilities: it reports none (its heartbeat has no such fact). */
  const olderFacts = { capabilities: [] };

  it("a full snapshot's files go as their data regions to an Agent that takes them, and whole to an older one, which takes the copy", async () => {
    const { snapshotId } = await snapshotted();
    const newer = await world.addHost({ name: 'newer' });
    const older = await world.addHost({ name: 'older', facts: olderFacts });
    await world.deps.hosts.setCordoned(first.id, true, world.clock.now());

    await world.deps.hosts.setCordoned(older.id, true, world.clock.now());
    const toNewer = await clone(snapshotId, 'on-newer');
    await world.deps.hosts.setCordoned(older.id, false, world.clock.now());
    await world.deps.hosts.setCordoned(newer.id, true, world.clock.now());
    const toOlder = await clone(snapshotId, 'on-older');

    expect([toNewer.statusCode, toOlder.statusCode], `${toNewer.body} ${toOlder.body}`).toEqual([201, 201]);
    expect([toNewer.vm.hostId, toOlder.vm.hostId]).toEqual([newer.id, older.id]);
    expect(world.agents.copyRequests.map(({ addr, encoding }) => ({ addr, encoding }))).toEqual([
      { addr: newer.addr, encoding: 'data_regions' },
      { addr: older.addr, encoding: 'whole' },
    ]);
    expect(await world.deps.snapshots.listCopies(snapshotId)).toHaveLength(2);
  });

  it('an Agent that reports a later capability it alone knows is still sent what it says it takes', async () => {
    const { snapshotId } = await snapshotted();
    const later = await world.addHost({
      facts: { capabilities: [...Object.values(agentCapabilities), 'a_capability_of_a_later_agent'] },
    });
    await world.deps.hosts.setCordoned(first.id, true, world.clock.now());

    const cloned = await clone(snapshotId, 'on-later');

    expect(cloned.statusCode, cloned.body).toBe(201);
    expect(cloned.vm.hostId).toBe(later.id);
    expect(world.agents.copyRequests.map(({ encoding }) => encoding)).toEqual(['data_regions']);
  });

  it('a diff is never asked of an Agent that does not take diff copies: nothing is copied there, 409 SNAPSHOT_INCOMPATIBLE says why', async () => {
    const { chain } = await chainOfThree();
    const diffTwo = chain[2]!;
    const older = await world.addHost({ name: 'older', facts: olderFacts });

    const refused = await ensureSnapshotOnHost(world.deps, diffTwo, older).catch((error: unknown) => error);

    expect(refused).toMatchObject({
      code: 'SNAPSHOT_INCOMPATIBLE',
      details: { snapshotId: diffTwo, hosts: [{ hostId: older.id, reason: 'agent_takes_no_diff_copies' }] },
    });
    expect((refused as Error).message).toContain('does not say it takes diff copies');
    // Not even the full root went: the chain is checked before any copy starts.
    expect(world.agents.calls.filter((call) => call.operation === 'copySnapshot')).toEqual([]);
    expect(world.agents.snapshotCopiesOn(older.addr)).toEqual([]);
  });

  it('a clone of a diff is placed on a host whose Agent takes diff copies, never on an older one, though it has more room', async () => {
    const { chain } = await chainOfThree();
    const diffTwo = chain[2]!;
    const older = await world.addHost({
      name: 'older',
      facts: olderFacts,
      capacity: { memoryMibTotal: 1024 * 1024, memoryMibAvailable: 1024 * 1024 },
    });
    const newer = await world.addHost({ name: 'newer' });
    await world.deps.hosts.setCordoned(first.id, true, world.clock.now());

    const cloned = await clone(diffTwo, 'of-diff');

    expect(cloned.statusCode, cloned.body).toBe(201);
    expect(cloned.vm.hostId).toBe(newer.id);
    expect(new Set(world.agents.copyRequests.map((asked) => asked.addr))).toEqual(new Set([newer.addr]));
    expect(world.agents.snapshotCopiesOn(older.addr)).toEqual([]);
  });

  it('with only older Agents besides its cordoned origin, a clone of a diff is not placed at all, and nothing is copied', async () => {
    const { chain } = await chainOfThree();
    const older = await world.addHost({ name: 'older', facts: olderFacts });
    await world.deps.hosts.setCordoned(first.id, true, world.clock.now());

    const cloned = await clone(chain[2]!, 'of-diff');

    expect(cloned.statusCode, cloned.body).toBe(503);
    expect(cloned.body).toContain('HOST_NO_CAPACITY');
    expect(world.agents.calls.filter((call) => call.operation === 'copySnapshot')).toEqual([]);
    expect(world.agents.snapshotCopiesOn(older.addr)).toEqual([]);
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
