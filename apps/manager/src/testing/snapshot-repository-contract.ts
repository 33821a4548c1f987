import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EventRepository } from '../application/ports/event-repository.js';
import type { HostRepository } from '../application/ports/host-repository.js';
import type { ImageRepository } from '../application/ports/image-repository.js';
import type { SnapshotOutcome, SnapshotRepository } from '../application/ports/snapshot-repository.js';
import type { VmRepository } from '../application/ports/vm-repository.js';
import { everyProject } from '../domain/access.js';
import { imageIdFromUlid } from '../domain/ids.js';
import type { Snapshot } from '../domain/snapshot.js';
import type { Vm } from '../domain/vm.js';
import { SequentialIdGenerator } from '../adapters/fake/sequential-id-generator.js';
import { codeOf } from './rejections.js';
import { agentIdFor, hostCapacity, hostFacts } from './world.js';

export interface SnapshotRepositoryHarness {
  readonly snapshots: SnapshotRepository;
  readonly vms: VmRepository;
  readonly images: ImageRepository;
  readonly hosts: HostRepository;
  readonly events: EventRepository;
  close(): Promise<void>;
}

const t0 = new Date('2025-01-01T00:00:00.000Z');
const at = (seconds: number): Date => new Date(t0.getTime() + seconds * 1000);

/** The behaviour every SnapshotRepository shares: run against the fake, PGlite and PostgreSQL. */
export function describeSnapshotRepositoryContract(name: string, open: () => Promise<SnapshotRepositoryHarness>): void {
  describe(`snapshot repository contract: ${name}`, () => {
    let harness: SnapshotRepositoryHarness;
    let ids: SequentialIdGenerator;
    let vm: Vm;

    beforeEach(async () => {
      harness = await open();
      ids = new SequentialIdGenerator();
      const host = await harness.hosts.register({
        newId: ids.hostId(),
        name: 'node-a',
        agentId: agentIdFor(1),
        aliveIfHeartbeatSince: t0,
        addr: 'http://node-a:9090',
        capacity: hostCapacity(),
        facts: hostFacts(),
        at: t0,
      });
      const image = (kind: 'kernel' | 'rootfs') => ({
        id: ids.imageId(),
        kind,
        name: kind,
        project: 'default',
        hostPath: `/srv/images/${kind}`,
        sha256: 'c'.repeat(64),
        sizeBytes: 4096,
        createdAt: t0,
      });
      const kernel = image('kernel');
      const rootfs = image('rootfs');
      await harness.images.insert(kernel);
      await harness.images.insert(rootfs);
      vm = {
        id: ids.vmId(),
        name: 'web',
        project: 'default',
        state: 'running',
        hostId: host.id,
        vcpuCount: 1,
        memoryMib: 256,
        kernelImageId: kernel.id,
        rootfsImageId: rootfs.id,
        kernelPath: kernel.hostPath,
        rootfsPath: rootfs.hostPath,
        bootArgs: 'console=ttyS0',
        guestMac: await harness.vms.allocateGuestMac(),
        isMetricsEnabled: false,
        failureReason: null,
        steps: [],
        totalMs: null,
        createdAt: t0,
        updatedAt: t0,
        version: 1,
        observedState: null,
        observedAt: null,
        restartPolicy: 'on-failure',
        templateId: null,
        templateVersion: null,
        restoredFrom: null,
        network: null,
        userData: null,
        egress: { mode: 'allow_all' },
        ports: [],
        sharedNetwork: null,
        rateLimits: {},
      };
      await harness.vms.insert(vm);
    });

    afterEach(async () => {
      await harness.close();
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

    it('deletes a snapshot with an event, and goes with its VM', async () => {
      const a = await creating();
      const b = await creating();
      await harness.snapshots.delete(a.id, at(1));
      expect(await harness.snapshots.findById(a.id)).toBeUndefined();
      expect(await codeOf(harness.snapshots.delete(a.id, at(2)))).toBe('SNAPSHOT_NOT_FOUND');
      expect(await snapshotEvents()).toContain(`snapshot.deleted ${a.id}`);
      await harness.vms.delete(vm.id, at(3));
      expect(await harness.snapshots.findById(b.id)).toBeUndefined();
    });
  });
}
