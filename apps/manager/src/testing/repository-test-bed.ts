import { afterEach, beforeEach } from 'vitest';
import type { AuditLog } from '../application/ports/audit-log.js';
import type { EventRepository } from '../application/ports/event-repository.js';
import type { HostRepository } from '../application/ports/host-repository.js';
import type { ImageRepository } from '../application/ports/image-repository.js';
import type { ProjectRepository } from '../application/ports/project-repository.js';
import type { ReconcileStateRepository } from '../application/ports/reconcile-state-repository.js';
import type { TokenRepository } from '../application/ports/token-repository.js';
import type { VmRepository } from '../application/ports/vm-repository.js';
import { SequentialIdGenerator } from '../adapters/fake/sequential-id-generator.js';
import type { ApiToken } from '../domain/api-token.js';
import type { RecordedEvent } from '../domain/event.js';
import type { Host } from '../domain/host.js';
import type { VmId } from '../domain/ids.js';
import type { Image, ImageKind } from '../domain/image.js';
import type { Vm } from '../domain/vm.js';
import { agentIdFor, hostCapacity, hostFacts } from './world.js';

/** The repositories one implementation (the fakes, PGlite or PostgreSQL) provides, as the suites over them see them. */
export interface Repositories {
  readonly vms: VmRepository;
  readonly images: ImageRepository;
  readonly hosts: HostRepository;
  readonly events: EventRepository;
  readonly reconcileStates: ReconcileStateRepository;
  readonly tokens: TokenRepository;
  readonly projects: ProjectRepository;
  readonly audit: AuditLog;
}

/** The repositories of one implementation, and how to empty them after a test. */
export interface RepositoryHarness extends Repositories {
  close(): Promise<void>;
}

export const t0 = new Date('2025-01-01T00:00:00.000Z');
export const at = (seconds: number): Date => new Date(t0.getTime() + seconds * 1000);

/** Fresh repositories for each test, and builders of the rows most tests need first. */
export interface RepositoryTestBed<Harness extends RepositoryHarness = RepositoryHarness> {
  readonly repos: Harness;
  readonly ids: SequentialIdGenerator;
  /** Registers a host (a new Agent identity unless one is given). */
  host(name?: string, agentId?: string): Promise<Host>;
  /** Stores an image of `kind` in `project`. */
  image(kind: ImageKind, name?: string, project?: string): Promise<Image>;
  /** Stores a pending VM, with a host and images of its own unless the overrides name them. */
  vm(overrides?: Partial<Vm>): Promise<Vm>;
  /** An API token (not stored) reading VMs of the default project, unless the overrides say otherwise. */
  token(overrides?: Partial<ApiToken>): ApiToken;
  /** Every event recorded for a VM, oldest first. */
  eventsOf(vmId: VmId): Promise<readonly RecordedEvent[]>;
}

/**
 * Opens the repositories before each test of the enclosing `describe` and closes them after it.
 * Call it inside a contract suite, before its tests.
 */
export function repositoryTestBed<Harness extends RepositoryHarness>(open: () => Promise<Harness>): RepositoryTestBed<Harness> {
  let harness: Harness;
  let repos: Harness;
  let ids: SequentialIdGenerator;
  let agentCount = 0;

  beforeEach(async () => {
    harness = await open();
    repos = harness;
    ids = new SequentialIdGenerator();
  });

  afterEach(async () => {
    await harness.close();
  });

  async function host(name = 'node-a', agentId = agentIdFor((agentCount += 1))): Promise<Host> {
    return repos.hosts.register({
      newId: ids.hostId(),
      name,
      agentId,
      aliveIfHeartbeatSince: t0,
      addr: `http://${name}:9090`,
      capacity: hostCapacity(),
      facts: hostFacts(),
      at: t0,
    });
  }

  async function image(kind: ImageKind, name = `${kind}-1`, project = 'default'): Promise<Image> {
    const value: Image = {
      id: ids.imageId(),
      kind,
      name,
      project,
      hostPath: `/srv/images/${name}`,
      sha256: 'c'.repeat(64),
      sizeBytes: 5_000_000_000,
      createdAt: t0,
    };
    await repos.images.insert(value);
    return value;
  }

  async function vm(overrides: Partial<Vm> = {}): Promise<Vm> {
    const h = overrides.hostId === undefined ? await host(`node-${ids.vmId().slice(-4).toLowerCase()}`) : undefined;
    const kernel =
      overrides.kernelImageId === undefined
        ? await image('kernel', `k-${ids.vmId().slice(-4).toLowerCase()}`, overrides.project)
        : undefined;
    const rootfs =
      overrides.rootfsImageId === undefined
        ? await image('rootfs', `r-${ids.vmId().slice(-4).toLowerCase()}`, overrides.project)
        : undefined;
    const id = overrides.id ?? ids.vmId();
    const value: Vm = {
      id,
      name: `vm-${id.slice(-6).toLowerCase()}`,
      project: 'default',
      state: 'pending',
      hostId: h?.id ?? overrides.hostId!,
      vcpuCount: 2,
      memoryMib: 512,
      kernelImageId: kernel?.id ?? overrides.kernelImageId!,
      rootfsImageId: rootfs?.id ?? overrides.rootfsImageId!,
      kernelPath: '/srv/images/vmlinux',
      rootfsPath: '/srv/images/rootfs.ext4',
      bootArgs: 'console=ttyS0',
      guestMac: await repos.vms.allocateGuestMac(),
      network: null,
      userData: null,
      egress: { mode: 'allow_all' },
      ports: [],
      sharedNetwork: null,
      rateLimits: {},
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
      pendingRestore: null,
      mappedSnapshotId: null,
      ...overrides,
    };
    await repos.vms.insert(value);
    return value;
  }

  function token(overrides: Partial<ApiToken> = {}): ApiToken {
    return {
      id: ids.tokenId(),
      name: 'ci',
      scopes: ['vms:read'],
      projects: { kind: 'some', names: ['default'] },
      createdAt: t0,
      createdBy: undefined,
      expiresAt: undefined,
      lastUsedAt: undefined,
      revokedAt: undefined,
      ...overrides,
    };
  }

  async function eventsOf(vmId: VmId): Promise<readonly RecordedEvent[]> {
    return (await repos.events.list({ vmId }, { limit: 1000 })).items;
  }

  return {
    get repos() {
      return repos;
    },
    get ids() {
      return ids;
    },
    host,
    image,
    vm,
    token,
    eventsOf,
  };
}
