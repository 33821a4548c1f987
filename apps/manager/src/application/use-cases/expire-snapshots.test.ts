import { describe, expect, it } from 'vitest';
import { everyProject } from '../../domain/access.js';
import type { SnapshotId } from '../../domain/ids.js';
import { createWorldWithVm, type World } from '../../testing/world.js';
import { acceptClones } from './clone-vms.js';
import { continueCreate } from './continue-create.js';
import { expireSnapshots } from './expire-snapshots.js';
import { createSnapshot } from './snapshots.js';
import { stopVm } from './stop-vm.js';
import { createTemplate, updateTemplate } from './templates.js';

async function snapshotEvents(world: World, snapshotId: SnapshotId): Promise<string[]> {
  const page = await world.deps.events.list({}, { limit: 1000 });
  return page.items.filter((event) => event.objectId === snapshotId).map((event) => `${event.type}: ${event.message}`);
}

describe('expireSnapshots', () => {
  it('removes a snapshot once past its expiry, with its files on its host and its copies, and says so', async () => {
    const { world, vmId } = await createWorldWithVm();
    const other = await world.addHost({ name: 'host-copy' });
    const snapshot = await createSnapshot(world.deps, vmId, { afterwards: 'previous_state', expiresInSeconds: 60 }, everyProject);
    await world.deps.snapshots.startCopy(snapshot.id, other.id, world.clock.now());
    await world.deps.snapshots.finishCopy(snapshot.id, other.id, world.clock.now());

    world.clock.advance(59_999);
    expect(await expireSnapshots(world.deps)).toEqual({ removed: 0, held: 0 });
    expect(await world.deps.snapshots.findById(snapshot.id)).toBeDefined();

    world.clock.advance(1);
    expect(await expireSnapshots(world.deps)).toEqual({ removed: 1, held: 0 });
    expect(await world.deps.snapshots.findById(snapshot.id)).toBeUndefined();
    expect(world.agents.snapshotIdsOf((await world.deps.hosts.findById(snapshot.hostId))!.addr, vmId)).toEqual([]);
    const removals = world.agents.calls.filter((c) => c.operation === 'deleteSnapshot' || c.operation === 'deleteSnapshotCopy');
    expect(removals.map((c) => [c.operation, c.addr])).toEqual([
      ['deleteSnapshot', (await world.deps.hosts.findById(snapshot.hostId))!.addr],
      ['deleteSnapshotCopy', other.addr],
    ]);
    expect((await snapshotEvents(world, snapshot.id)).slice(-2)).toEqual([
      `snapshot.expired: expired at ${snapshot.expiresAt!.toISOString()}`,
      'snapshot.deleted: deleted at its expiry',
    ]);
    expect(await expireSnapshots(world.deps)).toEqual({ removed: 0, held: 0 });
  });

  it('keeps an expired snapshot while a clone needs it or maps it, says why once, and removes it once the clone stopped', async () => {
    const { world, vmId } = await createWorldWithVm();
    const snapshot = await createSnapshot(world.deps, vmId, { afterwards: 'previous_state', expiresInSeconds: 1 }, everyProject);
    const [clone] = await acceptClones(world.deps, { name: 'clone', project: 'default', snapshotId: snapshot.id });
    world.clock.advance(1000);

    expect(await expireSnapshots(world.deps)).toEqual({ removed: 0, held: 1 });
    // Known to be held, and still held: not looked at again.
    expect(await expireSnapshots(world.deps)).toEqual({ removed: 0, held: 0 });
    // It ran: restored from the snapshot, its VMM maps the snapshot's memory file.
    expect(await continueCreate(world.deps, clone!.id)).toMatchObject({ state: 'running', mappedSnapshotId: snapshot.id });
    expect(await expireSnapshots(world.deps)).toEqual({ removed: 0, held: 0 });
    const held = (await snapshotEvents(world, snapshot.id)).filter((event) => event.startsWith('snapshot.expiry_held'));
    expect(held).toHaveLength(1);
    expect(held[0]).toMatch(/SNAPSHOT_IN_USE|needed by 1 VM/);
    expect(await world.deps.snapshots.findById(snapshot.id)).toBeDefined();

    await stopVm(world.deps, clone!.id);
    expect(await expireSnapshots(world.deps)).toEqual({ removed: 1, held: 0 });
    expect(await world.deps.snapshots.findById(snapshot.id)).toBeUndefined();
    // The clone boots from its own disk from now on.
    expect(await world.deps.vms.findById(clone!.id)).toMatchObject({ state: 'stopped', mappedSnapshotId: null });
  });

  it('keeps an expired snapshot a template carries until the template drops it', async () => {
    const { world, vmId } = await createWorldWithVm();
    const snapshot = await createSnapshot(world.deps, vmId, { afterwards: 'previous_state', expiresInSeconds: 1 }, everyProject);
    const template = await createTemplate(world.deps, { name: 'warm', project: 'default', snapshotId: snapshot.id });
    world.clock.advance(1000);

    expect(await expireSnapshots(world.deps)).toEqual({ removed: 0, held: 1 });
    expect(await expireSnapshots(world.deps)).toEqual({ removed: 0, held: 0 });
    expect((await snapshotEvents(world, snapshot.id)).filter((event) => event.startsWith('snapshot.expiry_held'))).toEqual([
      `snapshot.expiry_held: expired, kept: Snapshot ${snapshot.id} is carried by 1 template(s): change or delete them first`,
    ]);

    await updateTemplate(world.deps, template.id, { snapshotId: null }, { projects: everyProject });
    expect(await expireSnapshots(world.deps)).toEqual({ removed: 1, held: 0 });
  });

  it('removes an expired chain in one pass, diffs before the snapshots under them, and keeps a parent while a diff on it has not expired', async () => {
    const { world, vmId } = await createWorldWithVm();
    const expiring = { afterwards: 'previous_state', expiresInSeconds: 1 } as const;
    const base = await createSnapshot(world.deps, vmId, expiring, everyProject);
    const first = await createSnapshot(world.deps, vmId, { ...expiring, type: 'diff', parentId: base.id }, everyProject);
    const second = await createSnapshot(world.deps, vmId, { ...expiring, type: 'diff', parentId: first.id }, everyProject);
    const otherBase = await createSnapshot(world.deps, vmId, expiring, everyProject);
    const lasting = await createSnapshot(
      world.deps,
      vmId,
      { afterwards: 'previous_state', type: 'diff', parentId: otherBase.id },
      everyProject,
    );
    expect([first.chainDepth, second.chainDepth, lasting.chainDepth]).toEqual([1, 2, 1]);
    world.clock.advance(1000);

    expect(await expireSnapshots(world.deps)).toEqual({ removed: 3, held: 1 });
    for (const gone of [base, first, second]) expect(await world.deps.snapshots.findById(gone.id)).toBeUndefined();
    expect((await snapshotEvents(world, otherBase.id)).filter((event) => event.startsWith('snapshot.expiry_held'))).toEqual([
      `snapshot.expiry_held: expired, kept: Snapshot ${otherBase.id} is the parent of 1 diff snapshot(s): delete them, or merge them into full snapshots, first`,
    ]);

    await world.deps.snapshots.setExpiry(lasting.id, world.clock.now(), world.clock.now());
    expect(await expireSnapshots(world.deps)).toEqual({ removed: 2, held: 0 });
    expect(await world.deps.snapshots.findById(otherBase.id)).toBeUndefined();
  });

  it('leaves a snapshot whose expiry was cleared or moved on', async () => {
    const { world, vmId } = await createWorldWithVm();
    const cleared = await createSnapshot(world.deps, vmId, { afterwards: 'previous_state', expiresInSeconds: 1 }, everyProject);
    const moved = await createSnapshot(world.deps, vmId, { afterwards: 'previous_state', expiresInSeconds: 1 }, everyProject);
    await world.deps.snapshots.setExpiry(cleared.id, null, world.clock.now());
    await world.deps.snapshots.setExpiry(moved.id, new Date(world.clock.now().getTime() + 10_000), world.clock.now());
    world.clock.advance(5000);
    expect(await expireSnapshots(world.deps)).toEqual({ removed: 0, held: 0 });
    world.clock.advance(5000);
    expect(await expireSnapshots(world.deps)).toEqual({ removed: 1, held: 0 });
    expect(await world.deps.snapshots.findById(cleared.id)).toBeDefined();
  });

  it('stops between removals once its caller no longer leads', async () => {
    const { world, vmId } = await createWorldWithVm();
    for (let i = 0; i < 2; i += 1) {
      await createSnapshot(world.deps, vmId, { afterwards: 'previous_state', expiresInSeconds: 1 }, everyProject);
    }
    world.clock.advance(1000);
    let asked = 0;
    expect(await expireSnapshots(world.deps, () => (asked += 1) === 1)).toEqual({ removed: 1, held: 0 });
  });
});
