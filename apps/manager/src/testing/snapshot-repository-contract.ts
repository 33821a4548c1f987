import { beforeEach, describe, expect, it } from 'vitest';
import type { SnapshotOutcome, SnapshotRepository } from '../application/ports/snapshot-repository.js';
import type { TemplateRepository } from '../application/ports/template-repository.js';
import type { Template } from '../domain/template.js';
import { everyProject } from '../domain/access.js';
import { imageIdFromUlid } from '../domain/ids.js';
import type { Snapshot } from '../domain/snapshot.js';
import type { Vm } from '../domain/vm.js';
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
        parentId: null,
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

    it('deletes a snapshot with an event, and goes with its VM, with an event each', async () => {
      const a = await creating();
      const b = await creating();
      const c = await creating();
      await harness.snapshots.delete(a.id, at(1));
      expect(await harness.snapshots.findById(a.id)).toBeUndefined();
      expect(await codeOf(harness.snapshots.delete(a.id, at(2)))).toBe('SNAPSHOT_NOT_FOUND');
      expect(await snapshotEvents()).toContain(`snapshot.deleted ${a.id}`);
      await harness.vms.delete(vm.id, at(3));
      expect(await harness.snapshots.findById(b.id)).toBeUndefined();
      expect((await snapshotEvents()).filter((event) => event.startsWith('snapshot.deleted'))).toEqual([
        `snapshot.deleted ${a.id}`,
        `snapshot.deleted ${b.id}`,
        `snapshot.deleted ${c.id}`,
      ]);
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

    it('lists the templates that carry a snapshot, which carry none once it is deleted, alone or with its VM', async () => {
      const [a, b] = [await creating(), await creating()];
      const [web, db, plain] = [await carrying(a, 'web'), await carrying(b, 'db'), await carrying(b, 'plain')];
      await harness.templates.update(plain.id, { snapshotId: null }, { at: at(1) });
      expect((await harness.templates.listCarrying([a.id, b.id])).map((t) => t.id)).toEqual([web.id, db.id]);
      expect(await harness.templates.listCarrying([])).toEqual([]);
      await harness.snapshots.delete(a.id, at(2));
      expect((await harness.templates.findById(web.id))?.snapshotId).toBeNull();
      await harness.vms.delete(vm.id, at(3));
      expect((await harness.templates.findById(db.id))?.snapshotId).toBeNull();
      expect(await harness.templates.listCarrying([a.id, b.id])).toEqual([]);
    });

    it('refuses a template that carries a snapshot that does not exist with SNAPSHOT_NOT_FOUND', async () => {
      const gone = await creating();
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
      await harness.snapshots.delete(snapshot.id, at(3));
      expect(await harness.snapshots.listCopiesOnHost(other.id)).toEqual([]);
      expect(await codeOf(harness.snapshots.startCopy(snapshot.id, other.id, at(4)))).toBe('SNAPSHOT_NOT_FOUND');
    });
  });
}
