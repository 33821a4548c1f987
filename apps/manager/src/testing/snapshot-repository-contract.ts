import { beforeEach, describe, expect, it } from 'vitest';
import type { SnapshotOutcome, SnapshotRepository } from '../application/ports/snapshot-repository.js';
import type { TemplateRepository } from '../application/ports/template-repository.js';
import type { Template } from '../domain/template.js';
import { everyProject } from '../domain/access.js';
import { imageIdFromUlid } from '../domain/ids.js';
import type { Snapshot } from '../domain/snapshot.js';
import { vmListingOf, type Vm } from '../domain/vm.js';
import type { SequentialIdGenerator } from '../adapters/fake/sequential-id-generator.js';
import { codeOf } from './rejections.js';
import { at, repositoryTestBed, t0, type RepositoryHarness } from './repository-test-bed.js';

export interface SnapshotRepositoryHarness extends RepositoryHarness {
  readonly snapshots: SnapshotRepository;
  readonly templates: TemplateRepository;
}

/** The behaviour every SnapshotRepository shares: run against the fake, PGlite and PostgreSQL. */
export function describeSnapshotRepositoryContract(name: string, open: () => Promise<SnapshotRepositoryHarness>): void {
  describe(`snapshot repository contract: ${name}`, () => {
    const bed = repositoryTestBed(open);
    let harness: SnapshotRepositoryHarness;
    let ids: SequentialIdGenerator;
    let vm: Vm;

    beforeEach(async () => {
      ({ repos: harness, ids } = bed);
      vm = await bed.vm({ name: 'web', state: 'running', vcpuCount: 1, memoryMib: 256 });
    });

    async function creating(): Promise<Snapshot> {
      const snapshot: Snapshot = {
        id: ids.snapshotId(),
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
        expiresAt: at(3600),
        failureReason: null,
        createdAt: t0,
        updatedAt: t0,
      };
      await harness.snapshots.insert(snapshot);
      return snapshot;
    }

    const ready: SnapshotOutcome = {
      state: 'ready',
      sizes: { stateBytes: 4096, memoryBytes: 256 * 1024 * 1024, rootfsBytes: 5_000_000_000 },
      pauseMs: 41.5,
      fingerprint: {
        vmmKind: 'double',
        vmmVersion: '1.16.1',
        kernelImageId: imageIdFromUlid('01J0000000000000000000000X'),
        kernelSha256: 'c'.repeat(64),
      },
      digests: { stateSha256: '1'.repeat(64), memorySha256: '2'.repeat(64), rootfsSha256: '3'.repeat(64) },
    };

    async function snapshotEvents(): Promise<string[]> {
      const page = await harness.events.list({ vmId: vm.id }, { limit: 100 });
      return page.items.filter((e) => e.type.startsWith('snapshot.')).map((e) => `${e.type} ${e.objectId ?? ''}`);
    }

    it('stores a snapshot creating, then ready with its sizes, pause and fingerprint, each with an event', async () => {
      const snapshot = await creating();
      expect(await harness.snapshots.findById(snapshot.id)).toEqual(snapshot);
      const finished = await harness.snapshots.finish(snapshot.id, ready, at(2));
      expect(finished).toEqual({ ...snapshot, ...ready, updatedAt: at(2) } as unknown);
      expect(await harness.snapshots.findById(snapshot.id)).toEqual(finished);
      expect(await snapshotEvents()).toEqual([`snapshot.created ${snapshot.id}`, `snapshot.ready ${snapshot.id}`]);
    });

    it('records a failure with its reason, and finishes a snapshot only once', async () => {
      const snapshot = await creating();
      const failed = await harness.snapshots.finish(
        snapshot.id,
        { state: 'failed', failureReason: { code: 'FIRECRACKER_REJECTED', message: 'no space' } },
        at(1),
      );
      expect(failed).toMatchObject({
        state: 'failed',
        sizes: null,
        failureReason: { code: 'FIRECRACKER_REJECTED', message: 'no space' },
      });
      expect(await codeOf(harness.snapshots.finish(snapshot.id, ready, at(2)))).toBe('SNAPSHOT_NOT_FOUND');
    });

    it('lists by id a page at a time, filtered by VM, state and project', async () => {
      const a = await creating();
      const b = await creating();
      await harness.snapshots.finish(b.id, ready, at(1));
      const first = await harness.snapshots.list({ projects: everyProject }, { limit: 1 });
      expect(first.items.map((s) => s.id)).toEqual([a.id]);
      const second = await harness.snapshots.list({ projects: everyProject }, { limit: 1, afterId: first.nextCursor! });
      expect([second.items.map((s) => s.id), second.nextCursor]).toEqual([[b.id], null]);
      expect(
        (await harness.snapshots.list({ projects: everyProject, state: 'ready', vmId: vm.id }, { limit: 9 })).items.map(
          (s) => s.id,
        ),
      ).toEqual([b.id]);
      expect((await harness.snapshots.list({ projects: { kind: 'some', names: ['red'] } }, { limit: 9 })).items).toEqual([]);
    });

    async function readySnapshot(): Promise<Snapshot> {
      const snapshot = await creating();
      return harness.snapshots.finish(snapshot.id, ready, at(1));
    }

    it('deletes a snapshot with an event, and goes with its VM, with an event each', async () => {
      const [a, b, c] = [await readySnapshot(), await readySnapshot(), await creating()];
      expect(await harness.snapshots.delete(a.id, at(1))).toEqual({ snapshot: a, copies: [] });
      expect(await harness.snapshots.findById(a.id)).toBeUndefined();
      expect(await codeOf(harness.snapshots.delete(a.id, at(2)))).toBe('SNAPSHOT_NOT_FOUND');
      expect(await codeOf(harness.snapshots.delete(c.id, at(2)))).toBe('SNAPSHOT_NOT_READY');
      expect(await snapshotEvents()).toContain(`snapshot.deleted ${a.id}`);
      await harness.vms.delete(vm.id, at(3));
      expect(await harness.snapshots.findById(b.id)).toBeUndefined();
      expect((await snapshotEvents()).filter((event) => event.startsWith('snapshot.deleted'))).toEqual([
        `snapshot.deleted ${a.id}`,
        `snapshot.deleted ${b.id}`,
        `snapshot.deleted ${c.id}`,
      ]);
    });

    it('lists the VMs cloned from a snapshot that have not run yet, and keeps the snapshot each came from', async () => {
      const [snapshot, other] = [await readySnapshot(), await readySnapshot()];
      const restoredFrom = { snapshotId: snapshot.id, vmId: vm.id };
      const waiting = await bed.vm({ restoredFrom });
      await bed.vm({ restoredFrom, totalMs: 12 });
      await bed.vm({ restoredFrom: { snapshotId: other.id, vmId: vm.id } });

      expect(await harness.vms.listAwaitingRestore(snapshot.id)).toEqual([waiting.id]);
      expect((await harness.vms.findById(waiting.id))?.restoredFrom).toEqual(restoredFrom);
    });

    it('refuses to record clones of a snapshot that is gone or not ready', async () => {
      const gone = await readySnapshot();
      await harness.snapshots.delete(gone.id, at(2));
      expect(await codeOf(bed.vm({ restoredFrom: { snapshotId: gone.id, vmId: vm.id } }))).toBe('SNAPSHOT_NOT_FOUND');
      const taking = await creating();
      expect(await codeOf(bed.vm({ restoredFrom: { snapshotId: taking.id, vmId: vm.id } }))).toBe('SNAPSHOT_NOT_READY');
    });

    it('refuses deleting a VM while a clone of its snapshot has not run, then refuses new clones while it is deleted', async () => {
      const snapshot = await readySnapshot();
      const restoredFrom = { snapshotId: snapshot.id, vmId: vm.id };
      const waiting = await bed.vm({ restoredFrom });
      expect(await codeOf(harness.vms.transition(vm.id, { from: 'running', to: 'deleting', at: t0 }))).toBe('SNAPSHOT_IN_USE');
      expect((await harness.vms.findById(vm.id))?.state).toBe('running');

      await harness.vms.delete(waiting.id, at(1));
      expect((await harness.vms.transition(vm.id, { from: 'running', to: 'deleting', at: t0 })).state).toBe('deleting');
      expect(await codeOf(bed.vm({ restoredFrom }))).toBe('SNAPSHOT_NOT_READY');
      expect(await harness.vms.listAwaitingRestore(snapshot.id)).toEqual([]);
    });

    it('refuses deleting a VM while a running clone maps its snapshot, not while only the VM itself does', async () => {
      const snapshot = await readySnapshot();
      const clone = await bed.vm({ state: 'starting', restoredFrom: { snapshotId: snapshot.id, vmId: vm.id } });
      await harness.vms.transition(clone.id, {
        from: 'starting',
        to: 'running',
        at: t0,
        totalMs: 40,
        mappedSnapshotId: snapshot.id,
      });
      await expect(harness.vms.transition(vm.id, { from: 'running', to: 'deleting', at: t0 })).rejects.toMatchObject({
        code: 'SNAPSHOT_IN_USE',
        details: { vmId: vm.id, snapshotId: snapshot.id, vmIds: [clone.id] },
      });
      expect((await harness.vms.findById(vm.id))?.state).toBe('running');

      await harness.vms.transition(clone.id, { from: 'running', via: ['stopping'], to: 'stopped', at: t0 });
      // The VM restored in place from its own snapshot maps it: that goes with the VM.
      await harness.vms.transition(vm.id, { from: 'running', via: ['stopping', 'stopped'], to: 'starting', at: t0 });
      await harness.vms.transition(vm.id, { from: 'starting', to: 'running', at: t0, mappedSnapshotId: snapshot.id });
      expect((await harness.vms.transition(vm.id, { from: 'running', to: 'deleting', at: t0 })).state).toBe('deleting');
    });

    it('lists a clone with the snapshot it came from, and a VM with the restore in place it awaits', async () => {
      const snapshot = await readySnapshot();
      const clone = await bed.vm({ restoredFrom: { snapshotId: snapshot.id, vmId: vm.id } });
      await harness.vms.transition(vm.id, {
        from: 'running',
        to: 'stopping',
        at: t0,
        pendingRestore: { snapshotId: snapshot.id, isPaused: true },
      });
      const read = await Promise.all([vm.id, clone.id].map(async (id) => (await harness.vms.findById(id))!));
      expect(read.map((v) => [v.restoredFrom, v.pendingRestore])).toEqual([
        [null, { snapshotId: snapshot.id, isPaused: true }],
        [{ snapshotId: snapshot.id, vmId: vm.id }, null],
      ]);
      expect((await harness.vms.list({ projects: everyProject }, { limit: 10 })).items).toEqual(read.map(vmListingOf));
    });

    it('records a restore in place with a state change, lists its VM as awaiting the snapshot, and clears it with another', async () => {
      const snapshot = await readySnapshot();
      const pendingRestore = { snapshotId: snapshot.id, isPaused: true };
      const stopping = await harness.vms.transition(vm.id, { from: 'running', to: 'stopping', at: t0, pendingRestore });
      expect(stopping.pendingRestore).toEqual(pendingRestore);
      const starting = await harness.vms.transition(vm.id, { from: 'stopping', via: ['stopped'], to: 'starting', at: t0 });
      expect(starting.pendingRestore).toEqual(pendingRestore);
      expect((await harness.vms.findById(vm.id))?.pendingRestore).toEqual(pendingRestore);
      expect(await harness.vms.listAwaitingRestore(snapshot.id)).toEqual([vm.id]);

      const paused = await harness.vms.transition(vm.id, { from: 'starting', to: 'paused', at: t0, pendingRestore: null });
      expect(paused.pendingRestore).toBeNull();
      expect((await harness.vms.findById(vm.id))?.pendingRestore).toBeNull();
      expect(await harness.vms.listAwaitingRestore(snapshot.id)).toEqual([]);
    });

    it('refuses to record a restore in place of a snapshot that is gone, and changes nothing', async () => {
      const gone = await readySnapshot();
      await harness.snapshots.delete(gone.id, at(2));
      const pendingRestore = { snapshotId: gone.id, isPaused: false };
      expect(await codeOf(harness.vms.transition(vm.id, { from: 'running', to: 'stopping', at: t0, pendingRestore }))).toBe(
        'SNAPSHOT_NOT_FOUND',
      );
      expect(await harness.vms.findById(vm.id)).toMatchObject({ state: 'running', pendingRestore: null });
    });

    it('keeps the snapshot a VM maps from a restore until the VM stops or starts again', async () => {
      const snapshot = await readySnapshot();
      const clone = await bed.vm({ state: 'starting', restoredFrom: { snapshotId: snapshot.id, vmId: vm.id } });
      const mapping = await harness.vms.transition(clone.id, {
        from: 'starting',
        to: 'running',
        at: t0,
        totalMs: 40,
        mappedSnapshotId: snapshot.id,
      });
      expect(mapping.mappedSnapshotId).toBe(snapshot.id);
      // Unknown and paused again: its VMM may still be the one that maps it.
      await harness.vms.transition(clone.id, { from: 'running', to: 'unknown', at: t0 });
      expect((await harness.vms.transition(clone.id, { from: 'unknown', to: 'running', at: t0 })).mappedSnapshotId).toBe(
        snapshot.id,
      );
      expect(await codeOf(harness.snapshots.delete(snapshot.id, at(2)))).toBe('SNAPSHOT_IN_USE');
      const stopped = await harness.vms.transition(clone.id, { from: 'running', via: ['stopping'], to: 'stopped', at: t0 });
      expect(stopped.mappedSnapshotId).toBeNull();
      expect((await harness.vms.findById(clone.id))?.mappedSnapshotId).toBeNull();
      await harness.snapshots.delete(snapshot.id, at(3));
    });

    it('refuses to delete a snapshot a VM needs, naming the VMs, and one a template carries, until neither does', async () => {
      const snapshot = await readySnapshot();
      const clone = await bed.vm({ restoredFrom: { snapshotId: snapshot.id, vmId: vm.id } });
      const template = await carrying(snapshot, 'warm');
      const refused = harness.snapshots.delete(snapshot.id, at(2));
      await expect(refused).rejects.toMatchObject({
        code: 'SNAPSHOT_IN_USE',
        details: { snapshotId: snapshot.id, vmIds: [clone.id] },
      });
      await harness.vms.delete(clone.id, at(3));
      await expect(harness.snapshots.delete(snapshot.id, at(4))).rejects.toMatchObject({
        code: 'SNAPSHOT_IN_TEMPLATE',
        details: { snapshotId: snapshot.id, templateIds: [template.id] },
      });
      await harness.templates.update(template.id, { snapshotId: null }, { at: at(5) });
      await harness.snapshots.delete(snapshot.id, at(6));
      expect(await harness.snapshots.findById(snapshot.id)).toBeUndefined();
    });

    it('deletes at expiry with an event saying so, and lists what expired, oldest first, not those being taken', async () => {
      const [late, early, taking, never] = [
        await readySnapshot(),
        await readySnapshot(),
        await creating(),
        await readySnapshot(),
      ];
      await harness.snapshots.setExpiry(late.id, at(20), at(2));
      await harness.snapshots.setExpiry(early.id, at(10), at(2));
      await harness.snapshots.setExpiry(taking.id, at(5), at(2));
      await harness.snapshots.setExpiry(never.id, null, at(2));
      expect((await harness.snapshots.listExpired(at(9), 10)).map((s) => s.id)).toEqual([]);
      expect((await harness.snapshots.listExpired(at(30), 10)).map((s) => s.id)).toEqual([early.id, late.id]);
      expect((await harness.snapshots.listExpired(at(30), 1)).map((s) => s.id)).toEqual([early.id]);
      await harness.snapshots.delete(early.id, at(30), { isExpiry: true });
      const events = (await harness.events.list({ vmId: vm.id }, { limit: 100 })).items.filter((e) => e.objectId === early.id);
      expect(events.map((e) => [e.type, e.message])).toEqual([
        ['snapshot.created', 'creating'],
        ['snapshot.ready', 'ready, paused 42 ms'],
        ['snapshot.expiry_changed', `expires at ${at(10).toISOString()}`],
        ['snapshot.expired', `expired at ${at(10).toISOString()}`],
        ['snapshot.deleted', 'deleted at its expiry'],
      ]);
    });

    it('skips an expired snapshot whose removal is held while the hold stands, and lists it again once it ends', async () => {
      const [held, free] = [await readySnapshot(), await readySnapshot()];
      await harness.snapshots.setExpiry(held.id, at(5), at(2));
      await harness.snapshots.setExpiry(free.id, at(6), at(2));
      const clone = await bed.vm({ restoredFrom: { snapshotId: held.id, vmId: vm.id } });
      const expired = async (limit: number) => (await harness.snapshots.listExpired(at(30), limit)).map((s) => s.id);
      // Not known to be held yet: listed, so that a pass finds out and says why it waits.
      expect(await expired(1)).toEqual([held.id]);
      await harness.snapshots.holdExpiry(held.id, 'SNAPSHOT_IN_USE', at(30), 'needed by a VM');
      expect(await expired(1)).toEqual([free.id]);
      await harness.vms.delete(clone.id, at(31));
      expect(await expired(10)).toEqual([held.id, free.id]);
    });

    it('says once why an expiry waits, again when the reason changes or the expiry is set anew', async () => {
      const snapshot = await readySnapshot();
      expect(await harness.snapshots.holdExpiry(snapshot.id, 'SNAPSHOT_IN_USE', at(2), 'needed by a VM')).toBe(true);
      expect(await harness.snapshots.holdExpiry(snapshot.id, 'SNAPSHOT_IN_USE', at(3), 'needed by a VM')).toBe(false);
      expect(await harness.snapshots.holdExpiry(snapshot.id, 'SNAPSHOT_IN_TEMPLATE', at(4), 'carried')).toBe(true);
      expect((await harness.snapshots.setExpiry(snapshot.id, at(60), at(5))).expiresAt).toEqual(at(60));
      expect(await harness.snapshots.holdExpiry(snapshot.id, 'SNAPSHOT_IN_TEMPLATE', at(6), 'carried')).toBe(true);
      expect(await codeOf(harness.snapshots.setExpiry(ids.snapshotId(), null, at(7)))).toBe('SNAPSHOT_NOT_FOUND');
      expect((await snapshotEvents()).filter((e) => e.startsWith('snapshot.expiry'))).toEqual([
        `snapshot.expiry_held ${snapshot.id}`,
        `snapshot.expiry_held ${snapshot.id}`,
        `snapshot.expiry_changed ${snapshot.id}`,
        `snapshot.expiry_held ${snapshot.id}`,
      ]);
    });

    it('keeps a parent while a diff names it, lists diffs by parent, and a whole chain goes with its VM', async () => {
      const full = await creating();
      await harness.snapshots.finish(full.id, ready, at(1));
      const diff: Snapshot = { ...full, id: ids.snapshotId(), state: 'creating', type: 'diff', parentId: full.id, chainDepth: 1 };
      await harness.snapshots.insert(diff);
      expect(await harness.snapshots.findById(diff.id)).toMatchObject({ type: 'diff', parentId: full.id, chainDepth: 1 });
      const page = await harness.snapshots.list({ projects: everyProject, parentId: full.id }, { limit: 10 });
      expect(page.items.map((s) => s.id)).toEqual([diff.id]);
      expect(await codeOf(harness.snapshots.delete(full.id, at(2)))).toBe('SNAPSHOT_HAS_DIFFS');
      expect(await harness.snapshots.findById(full.id)).toBeDefined();
      await harness.vms.delete(vm.id, at(3));
      expect(await harness.snapshots.findById(full.id)).toBeUndefined();
      expect(await harness.snapshots.findById(diff.id)).toBeUndefined();
    });

    it('records a diff or a merge only from a ready snapshot that exists, and keeps a diff while a merge reads it', async () => {
      const full = await creating();
      const onTopOf = (parentId: Snapshot['id']): Snapshot => ({
        ...full,
        id: ids.snapshotId(),
        type: 'diff',
        parentId,
        chainDepth: 1,
      });
      expect(await codeOf(harness.snapshots.insert(onTopOf(full.id)))).toBe('SNAPSHOT_NOT_READY');
      expect(await codeOf(harness.snapshots.insert(onTopOf(ids.snapshotId())))).toBe('SNAPSHOT_NOT_FOUND');
      await harness.snapshots.finish(full.id, ready, at(1));
      const diff = onTopOf(full.id);
      await harness.snapshots.insert(diff);
      await harness.snapshots.finish(diff.id, ready, at(2));
      const merge: Snapshot = { ...full, id: ids.snapshotId(), mergedFrom: diff.id };
      await harness.snapshots.insert(merge);
      await expect(harness.snapshots.delete(diff.id, at(3))).rejects.toMatchObject({
        code: 'SNAPSHOT_IN_USE',
        details: { snapshotId: diff.id, mergeIds: [merge.id] },
      });
      await harness.snapshots.finish(merge.id, ready, at(4));
      await harness.snapshots.delete(diff.id, at(5));
      expect(await harness.snapshots.findById(merge.id)).toMatchObject({ state: 'ready', mergedFrom: null });
      const late: Snapshot = { ...full, id: ids.snapshotId(), mergedFrom: diff.id };
      expect(await codeOf(harness.snapshots.insert(late))).toBe('SNAPSHOT_NOT_FOUND');
    });

    async function carrying(snapshot: Snapshot, name: string): Promise<Template> {
      const template: Template = {
        id: ids.templateId(),
        name,
        project: vm.project,
        description: '',
        kernelImageId: vm.kernelImageId,
        rootfsImageId: vm.rootfsImageId,
        vcpuCount: vm.vcpuCount,
        memoryMib: vm.memoryMib,
        bootArgs: vm.bootArgs,
        egress: vm.egress,
        sharedNetwork: vm.sharedNetwork,
        rateLimits: vm.rateLimits,
        restartPolicy: 'never',
        snapshotId: snapshot.id,
        createdAt: t0,
        updatedAt: t0,
        version: 1,
      };
      await harness.templates.insert(template);
      return template;
    }

    it('lists the templates that carry a snapshot, which carry none once it is deleted with its VM', async () => {
      const [a, b] = [await readySnapshot(), await readySnapshot()];
      const [web, db, plain] = [await carrying(a, 'web'), await carrying(b, 'db'), await carrying(b, 'plain')];
      await harness.templates.update(plain.id, { snapshotId: null }, { at: at(1) });
      expect((await harness.templates.listCarrying([a.id, b.id])).map((t) => t.id)).toEqual([web.id, db.id]);
      expect(await harness.templates.listCarrying([])).toEqual([]);
      await harness.vms.delete(vm.id, at(3));
      expect((await harness.templates.findById(web.id))?.snapshotId).toBeNull();
      expect((await harness.templates.findById(db.id))?.snapshotId).toBeNull();
      expect(await harness.templates.listCarrying([a.id, b.id])).toEqual([]);
    });

    it('refuses a template that carries a snapshot that does not exist with SNAPSHOT_NOT_FOUND', async () => {
      const gone = await readySnapshot();
      await harness.snapshots.delete(gone.id, at(1));
      expect(await codeOf(carrying(gone, 'web'))).toBe('SNAPSHOT_NOT_FOUND');
    });

    it('records a copy on another host once, copying then ready, each with an event, and forgets it with one', async () => {
      const snapshot = await creating();
      await harness.snapshots.finish(snapshot.id, ready, at(1));
      const other = await bed.host('node-copy');
      const started = await harness.snapshots.startCopy(snapshot.id, other.id, at(2));
      expect(started).toEqual({
        snapshotId: snapshot.id,
        hostId: other.id,
        state: 'copying',
        createdAt: at(2),
        updatedAt: at(2),
      });
      expect(await harness.snapshots.startCopy(snapshot.id, other.id, at(3))).toEqual(started);
      expect(await harness.snapshots.finishCopy(snapshot.id, other.id, at(4))).toMatchObject({
        state: 'ready',
        updatedAt: at(4),
      });
      expect(await harness.snapshots.listCopies(snapshot.id)).toMatchObject([{ hostId: other.id, state: 'ready' }]);
      expect(await harness.snapshots.listCopiesOnHost(other.id)).toMatchObject([{ snapshotId: snapshot.id }]);
      await harness.snapshots.removeCopy(snapshot.id, other.id, at(5), 'gone from its host');
      await harness.snapshots.removeCopy(snapshot.id, other.id, at(6), 'again');
      expect(await harness.snapshots.listCopies(snapshot.id)).toEqual([]);
      expect(await snapshotEvents()).toEqual([
        `snapshot.created ${snapshot.id}`,
        `snapshot.ready ${snapshot.id}`,
        `snapshot.copy_started ${snapshot.id}`,
        `snapshot.copied ${snapshot.id}`,
        `snapshot.copy_removed ${snapshot.id}`,
      ]);
      expect(await codeOf(harness.snapshots.finishCopy(snapshot.id, other.id, at(7)))).toBe('SNAPSHOT_NOT_FOUND');
    });

    it('lists every copy on every host, by snapshot then host', async () => {
      const [first, second] = [await creating(), await creating()];
      for (const snapshot of [first, second]) await harness.snapshots.finish(snapshot.id, ready, at(1));
      const [one, two] = [await bed.host('node-copy-one'), await bed.host('node-copy-two')];
      await harness.snapshots.startCopy(second.id, two.id, at(2));
      await harness.snapshots.startCopy(second.id, one.id, at(2));
      await harness.snapshots.startCopy(first.id, two.id, at(2));
      await harness.snapshots.finishCopy(first.id, two.id, at(3));
      const listed = (await harness.snapshots.listAllCopies()).map((copy) => `${copy.snapshotId} ${copy.hostId} ${copy.state}`);
      const expected = [
        `${first.id} ${two.id} ready`,
        ...[`${second.id} ${one.id} copying`, `${second.id} ${two.id} copying`].sort(),
      ];
      expect(listed).toEqual(first.id < second.id ? expected : [...expected.slice(1), expected[0]]);
      await harness.snapshots.delete(second.id, at(4));
      expect(await harness.snapshots.listAllCopies()).toMatchObject([{ snapshotId: first.id, hostId: two.id }]);
    });

    it('keeps the digests of a ready snapshot, and its copies go with it', async () => {
      const snapshot = await creating();
      await harness.snapshots.finish(snapshot.id, ready, at(1));
      expect((await harness.snapshots.findById(snapshot.id))?.digests).toEqual(ready.state === 'ready' ? ready.digests : null);
      const other = await bed.host('node-copy');
      await harness.snapshots.startCopy(snapshot.id, other.id, at(2));
      expect((await harness.snapshots.delete(snapshot.id, at(3))).copies).toMatchObject([{ hostId: other.id, state: 'copying' }]);
      expect(await harness.snapshots.listCopiesOnHost(other.id)).toEqual([]);
      expect(await codeOf(harness.snapshots.startCopy(snapshot.id, other.id, at(4)))).toBe('SNAPSHOT_NOT_FOUND');
    });
  });
}
