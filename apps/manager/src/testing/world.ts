import { agentCapabilities, hostCredentialPrefix, type HostCapacity, type HostFacts } from '@hearth/contracts';
import { HostContacts } from '../application/host-contacts.js';
import type { UseCaseDependencies, UseCaseSettings } from '../application/dependencies.js';
import type { Log } from '../application/ports/log.js';
import { FakeAgentClient } from '../adapters/fake/fake-agent-client.js';
import { FakeImageInspector, fakeExt4Bytes, fakeKernelBytes } from '../adapters/fake/fake-image-inspector.js';
import { FixedClock } from '../adapters/fake/fixed-clock.js';
import { createInMemoryRepositories, type InMemoryRepositories } from '../adapters/fake/in-memory-repositories.js';
import { InMemoryTokenRepository } from '../adapters/fake/in-memory-token-repository.js';
import { SequentialIdGenerator } from '../adapters/fake/sequential-id-generator.js';
import { NodeTimers } from '../adapters/system/node-timers.js';
import { VmStateWaiters } from '../application/events/vm-state-waiters.js';
import { createToken, hashTokenSecret, principalOf, type NewToken } from '../application/use-cases/api-tokens.js';
import { createVm } from '../application/use-cases/create-vm.js';
import { scopes } from '../domain/access.js';
import type { ApiToken } from '../domain/api-token.js';
import { tokenIdFromUlid, type HostId, type ImageId, type VmId } from '../domain/ids.js';
import type { Host } from '../domain/host.js';
import type { Image } from '../domain/image.js';
import { parseAddressPool, type AddressPool } from '../domain/address-pool.js';
import { CertificateAuthority } from '@hearth/pki';
import type { AgentCredential } from '../application/ports/trust-repository.js';
import { secretHash } from '../domain/secret-hash.js';
import { RandomSecretGenerator } from '../adapters/system/random-secret-generator.js';
import { ClusterCertificateIssuer } from '../adapters/tls/cluster-certificate-issuer.js';

/** One CA for every test world of the process: creating one is the slow part of issuing. */
const testCa = await CertificateAuthority.create({
  commonName: 'test cluster CA',
  notBefore: new Date('2020-01-01T00:00:00Z'),
  notAfter: new Date('2040-01-01T00:00:00Z'),
});

/** The credential an Agent of this identity joined with, as the registration and heartbeat use cases get it. */
export function credentialOf(agentId: string | null): AgentCredential {
  return { id: `cred_${(agentId ?? 'agent_').slice('agent_'.length).padStart(26, '0')}`, agentId: agentId ?? '' };
}

/** The `authorization` header an Agent of this identity sends once joined (see `World.joinAgent`). */
export function agentAuthorization(agentId: string | null): string {
  return `Bearer ${hostCredentialPrefix}test-secret-of-${agentId ?? 'none'}`;
}

export const silentLog: Log = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** The pool of test worlds: the Manager's default. */
export const testAddressPool = parseAddressPool('172.30.0.0/16') as AddressPool;

export const defaultSettings: UseCaseSettings = Object.freeze({
  cpuOvercommit: 4,
  memoryOvercommit: 1,
  heartbeatIntervalMs: 5000,
  isMetricsEnabled: false,
  clusterId: 'cluster_0123456789abcdef0123456789abcdef',
  agentCertificateTtlMs: 7 * 86_400_000,
  snapshotChainMax: 8,
  addressing: { pool: testAddressPool, quarantineMs: 600_000 },
});

/** A well-formed Agent identity for tests: `agent_` and 26 Crockford characters. */
export function agentIdFor(n: number): string {
  return `agent_${String(n).padStart(26, '0')}`;
}

export function hostFacts(): HostFacts {
  return {
    agentVersion: '0.1.0',
    isKvmUsable: true,
    hasFirecracker: true,
    firecrackerBinary: '/usr/local/bin/firecracker',
    isBridgeUp: true,
    bridge: 'hearth0',
    spawnMode: 'direct',
    capabilities: Object.values(agentCapabilities),
  };
}

export function hostCapacity(overrides: Partial<HostCapacity> = {}): HostCapacity {
  return { cpuCount: 4, memoryMibTotal: 8192, memoryMibAvailable: 8000, vmCount: 0, ...overrides };
}

/** The secret of the token every world starts with: every scope, every project. */
export const testAdminSecret = `hth_${'A'.repeat(43)}`;

export const testAdminToken: ApiToken = Object.freeze<ApiToken>({
  id: tokenIdFromUlid('01J0000000000000000000ADMN'),
  name: 'admin',
  scopes: [...scopes],
  projects: { kind: 'all' },
  createdAt: new Date(0),
  createdBy: undefined,
  expiresAt: undefined,
  lastUsedAt: undefined,
  revokedAt: undefined,
});

/** Use-case dependencies made of fakes, with helpers to put hosts and images in place. */
export interface World {
  readonly deps: UseCaseDependencies;
  readonly repos: InMemoryRepositories;
  readonly agents: FakeAgentClient;
  readonly inspector: FakeImageInspector;
  readonly clock: FixedClock;
  readonly vmWaiters: VmStateWaiters;
  /** Registers a host of a new Agent identity, which has joined (see `joinAgent`). */
  addHost(options?: { name?: string; capacity?: Partial<HostCapacity>; facts?: Partial<HostFacts> }): Promise<Host>;
  /**
   * Records the credential of `agentId` (`credentialOf`), whose secret `agentAuthorization` sends,
   * as a join would; nothing when it has joined already.
   */
  joinAgent(agentId: string): Promise<void>;
  addImages(): Promise<{ kernel: Image; rootfs: Image }>;
  /** A new token made by the admin token; returns its secret. */
  mintToken(token: NewToken): Promise<string>;
}

export function createWorld(settings: Partial<UseCaseSettings> = {}): World {
  const repos = createInMemoryRepositories(
    new InMemoryTokenRepository([{ token: testAdminToken, secretSha256: hashTokenSecret(testAdminSecret) }]),
  );
  const agents = new FakeAgentClient();
  const inspector = new FakeImageInspector('/srv/images');
  const clock = new FixedClock();
  const ids = new SequentialIdGenerator();
  // Real timers: the use-case tests time out waits for real; timer-driven tests use ManualTimers.
  const timers = new NodeTimers();
  const vmWaiters = new VmStateWaiters({ vms: repos.vms, eventFeed: repos.eventFeed, timers, log: silentLog });
  const deps: UseCaseDependencies = {
    ...repos,
    agents,
    contacts: new HostContacts(),
    inspector,
    clock,
    timers,
    vmWaiters,
    ids,
    issuer: new ClusterCertificateIssuer(testCa),
    secrets: new RandomSecretGenerator(),
    log: silentLog,
    settings: { ...defaultSettings, ...settings },
  };
  let hostCount = 0;
  const joined = new Set<string>();
  return {
    deps,
    repos,
    agents,
    inspector,
    clock,
    vmWaiters,
    async joinAgent(agentId) {
      if (joined.has(agentId)) return;
      joined.add(agentId);
      const tokenHash = `join-of-${agentId}`;
      await repos.trust.createJoinToken({
        id: `jt_${agentId}`,
        tokenHash,
        createdAt: clock.now(),
        expiresAt: new Date(clock.now().getTime() + 3_600_000),
      });
      const secret = agentAuthorization(agentId).slice('Bearer '.length);
      await repos.trust.join({
        tokenHash,
        publicKeySha256: `key-of-${agentId}`,
        at: clock.now(),
        credential: { ...credentialOf(agentId), secretHash: secretHash(secret) },
      });
    },
    async addHost(options = {}) {
      hostCount += 1;
      await this.joinAgent(agentIdFor(hostCount));
      const facts = { ...hostFacts(), ...options.facts };
      const addr = `https://10.0.0.${hostCount}:9090`;
      // The fake Agent there takes what its facts say, as an older Agent would (none: it reports none).
      agents.setCapabilities(addr, facts.capabilities ?? []);
      return repos.hosts.register({
        newId: ids.hostId(),
        name: options.name ?? `host-${hostCount}`,
        agentId: agentIdFor(hostCount),
        credentialId: credentialOf(agentIdFor(hostCount)).id,
        aliveIfHeartbeatSince: clock.now(),
        addr,
        capacity: hostCapacity(options.capacity),
        facts,
        at: clock.now(),
      });
    },
    async addImages() {
      const kernelPath = inspector.put('vmlinux', fakeKernelBytes());
      const rootfsPath = inspector.put('rootfs.ext4', fakeExt4Bytes());
      const kernel: Image = {
        id: ids.imageId(),
        kind: 'kernel',
        name: 'vmlinux',
        project: 'default',
        hostPath: kernelPath,
        sha256: 'a'.repeat(64),
        sizeBytes: 4096,
        createdAt: clock.now(),
      };
      const rootfs: Image = {
        id: ids.imageId(),
        kind: 'rootfs',
        name: 'rootfs',
        project: 'default',
        hostPath: rootfsPath,
        sha256: 'b'.repeat(64),
        sizeBytes: 4096,
        createdAt: clock.now(),
      };
      await repos.images.insert(kernel);
      await repos.images.insert(rootfs);
      return { kernel, rootfs };
    },
    async mintToken(token) {
      return (await createToken(deps, principalOf(testAdminToken), token)).secret;
    },
  };
}

/**
 * Registers host `name` (default `node-<n>`) of Agent identity `n` through `deps`, whatever its
 * repositories: alive, with room for many VMs. For tests that create VMs through the use cases.
 */
export async function registerRoomyHost(deps: UseCaseDependencies, n = 1, name = `node-${n}`): Promise<HostId> {
  const id = deps.ids.hostId();
  await deps.hosts.register({
    newId: id,
    name,
    agentId: agentIdFor(n),
    aliveIfHeartbeatSince: new Date(0),
    addr: `https://10.0.0.${n}:9090`,
    capacity: hostCapacity({ cpuCount: 64, memoryMibTotal: 65_536, memoryMibAvailable: 65_536 }),
    facts: hostFacts(),
    at: deps.clock.now(),
  });
  return id;
}

/** Records a kernel and a rootfs image (`<prefix>-kernel`, `<prefix>-rootfs`) in `project` (the default one unless named) through `deps`. */
export async function recordTestImages(
  deps: UseCaseDependencies,
  prefix: string,
  project = 'default',
): Promise<{ kernelImageId: ImageId; rootfsImageId: ImageId }> {
  const image = async (kind: 'kernel' | 'rootfs'): Promise<ImageId> => {
    const id = deps.ids.imageId();
    await deps.images.insert({
      id,
      kind,
      name: `${prefix}-${kind}`,
      project,
      hostPath: `/srv/images/${kind}`,
      sha256: 'c'.repeat(64),
      sizeBytes: 1024,
      createdAt: deps.clock.now(),
    });
    return id;
  };
  return { kernelImageId: await image('kernel'), rootfsImageId: await image('rootfs') };
}

/** A world with one host, its images, and one VM named `source` of project `default` (1 vCPU, 256 MiB). */
export async function createWorldWithVm(): Promise<{ world: World; vmId: VmId }> {
  const world = createWorld();
  await world.addHost();
  const { kernel, rootfs } = await world.addImages();
  const vm = await createVm(world.deps, {
    project: 'default',
    name: 'source',
    vcpuCount: 1,
    memoryMib: 256,
    kernelImageId: kernel.id,
    rootfsImageId: rootfs.id,
  });
  return { world, vmId: vm.id };
}
