#!/usr/bin/env node
// Many simulated hosts in one process, for the scale harness (scale-run.ts forks it with an IPC
// channel). Each host is the real Agent HTTP app (createAgentApp: the same routes, schemas, mutual
// TLS and cluster check as a real host) on the Agent's own fake host adapters (createFakeAgent: the
// fake VMM, Firecracker API, network, firewall and files its tests use), joined with a one-time join
// token through the real join use case, registering and heartbeating through the real
// RegistrationLoop and HttpManagerApi. What is simulated: the host below the Agent's ports (no
// processes, TAPs or files) and its resources (fixed, large); the fake clock makes the fake VMM
// answer at once.
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { HostHeartbeat, VmSpec } from '@hearth/contracts';
import { createLogger } from '@hearth/http-server';
import { ulid } from 'ulid';
import { createFakeAgent } from '../../../apps/agent/dist/adapters/fake/fake-agent-context.js';
import { FakeHostProbe } from '../../../apps/agent/dist/adapters/fake/fake-host-probe.js';
import { InMemoryAgentIdentityStore } from '../../../apps/agent/dist/adapters/fake/in-memory-agent-identity-store.js';
import { InMemoryTrustStore } from '../../../apps/agent/dist/adapters/fake/in-memory-trust-store.js';
import { HttpManagerApi } from '../../../apps/agent/dist/adapters/manager/http-manager-api.js';
import { generateEcKeyPair } from '../../../apps/agent/dist/adapters/system/ec-key-pair.js';
import { NodeTimers, SystemClock } from '../../../apps/agent/dist/adapters/system/system-clock.js';
import { applyVm } from '../../../apps/agent/dist/application/use-cases/apply-vm.js';
import { ClusterMembership } from '../../../apps/agent/dist/application/cluster/cluster-membership.js';
import { HostFactsCache, readHeartbeat } from '../../../apps/agent/dist/application/use-cases/host-status.js';
import { ensureJoined } from '../../../apps/agent/dist/application/cluster/join-cluster.js';
import { RegistrationLoop } from '../../../apps/agent/dist/application/cluster/registration-loop.js';
import { parseVmId } from '../../../apps/agent/dist/domain/vm-id.js';
import { createAgentApp } from '../../../apps/agent/dist/http/create-agent-app.js';
import { InventoryReads } from '../../../apps/agent/dist/http/inventory-reads.js';
import type { ParentMessage, SimulatedHost, ChildMessage } from './simulated-hosts-protocol.js';

/**
 * Every simulated host's heartbeats, held back while the harness measures what a Manager does with
 * no heartbeat to serve (a held heartbeat is sent when released, not lost).
 */
const heartbeatGate = {
  held: null as { readonly released: Promise<void>; readonly release: () => void } | null,
  inFlight: 0,
  idle: [] as (() => void)[],
};

function holdHeartbeats(): Promise<void> {
  if (heartbeatGate.held === null) {
    let release = (): void => undefined;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    heartbeatGate.held = { released, release };
  }
  if (heartbeatGate.inFlight === 0) return Promise.resolve();
  return new Promise((resolve) => heartbeatGate.idle.push(resolve));
}

function releaseHeartbeats(): void {
  heartbeatGate.held?.release();
  heartbeatGate.held = null;
}

/** A simulated host's heartbeat round trips (ms), read and reset by each `stats` message. */
class TimedManagerApi extends HttpManagerApi {
  latenciesMs: number[] = [];
  failures = 0;

  override async heartbeat(hostId: string, beat: HostHeartbeat): ReturnType<HttpManagerApi['heartbeat']> {
    while (heartbeatGate.held !== null) await heartbeatGate.held.released;
    heartbeatGate.inFlight += 1;
    try {
      const startedAt = performance.now();
      const outcome = await super.heartbeat(hostId, beat);
      if (outcome.kind === 'ok') this.latenciesMs.push(performance.now() - startedAt);
      else this.failures += 1;
      return outcome;
    } finally {
      heartbeatGate.inFlight -= 1;
      if (heartbeatGate.inFlight === 0) for (const resolve of heartbeatGate.idle.splice(0)) resolve();
    }
  }
}

interface Host {
  readonly name: string;
  readonly agent: ReturnType<typeof createFakeAgent>;
  readonly manager: TimedManagerApi;
  readonly loop: RegistrationLoop;
  readonly close: () => Promise<void>;
}

const hosts = new Map<string, Host>();
const logger = createLogger({ name: 'simulated-host', level: 'error' });
const send = (message: ChildMessage): void => {
  process.send?.(message);
};

async function startHost(
  name: string,
  joinToken: string,
  managerBases: readonly string[],
  images: readonly string[],
  imageRoot: string,
): Promise<SimulatedHost> {
  const agentId = `agent_${ulid()}`;
  const agent = createFakeAgent({ agentId, imageRoot });
  for (const file of images) agent.files.addFile(file, 'image', 64 * 1024 * 1024);
  const membership = await ClusterMembership.load(new InMemoryAgentIdentityStore({ agentId, clusterId: null }));
  // The credential the join answers, sent on every later call.
  const session: { credential?: string } = {};
  const manager = new TimedManagerApi({ baseUrls: managerBases, timeoutMs: 5_000, credential: () => session.credential });
  const clock = new SystemClock();
  const trust = await ensureJoined({
    store: new InMemoryTrustStore(),
    // A join token is used once: a join whose answer times out and is retried is refused
    // (JOIN_TOKEN_USED), so the join waits as long as a Manager busy with many joins needs.
    manager: new HttpManagerApi({ baseUrls: managerBases, timeoutMs: 120_000, credential: () => session.credential }),
    agentId,
    joinToken,
    generateKeyPair: generateEcKeyPair,
    clock,
    log: logger,
    random: Math.random,
    backoff: { initialMs: 500, maxMs: 10_000 },
  });
  session.credential = trust.credential;
  await membership.join(trust.clusterId);
  const probe = new FakeHostProbe();
  // Large enough for any VM count the harness asks for: placement spreads VMs by free memory.
  probe.hostResources = { cpuCount: 64, memoryMibTotal: 1_048_576, memoryMibAvailable: 1_048_576 };
  const status = { probe, records: agent.records, clock, hostName: name };
  // This process: its inventory's tags and its registration carry the same one, as a real Agent's do.
  const instanceId = randomBytes(16).toString('hex');
  const inventories = new InventoryReads(agent.context, name, instanceId);
  const app = createAgentApp({
    logger,
    inventories,
    context: agent.context,
    status,
    cluster: membership,
    tls: { caCertificatePem: trust.caCertificatePem, certificatePem: trust.certificatePem, privateKeyPem: trust.privateKeyPem },
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = `https://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const facts = new HostFactsCache(probe, clock);
  const loop = new RegistrationLoop({
    manager,
    timers: new NodeTimers(),
    clock,
    log: logger,
    random: Math.random,
    registration: async () => ({
      name,
      agentId,
      instanceId,
      clusterId: trust.clusterId,
      addr,
      ...(await readHeartbeat(status, facts)),
    }),
    joinCluster: (clusterId) => membership.join(clusterId),
    heartbeat: () => readHeartbeat(status, facts, () => inventories.heartbeatTag()),
    // The interval the Manager answers at registration (its default unless the harness sets one).
    heartbeatIntervalMs: null,
    backoff: { initialMs: 500, maxMs: 30_000 },
  });
  loop.start();
  const registered = await waitForHostId(loop);
  hosts.set(name, {
    name,
    agent,
    manager,
    loop,
    close: async () => {
      await loop.stop();
      await app.close();
    },
  });
  return { name, agentId, hostId: registered, addr };
}

async function waitForHostId(loop: RegistrationLoop): Promise<string> {
  for (let waited = 0; waited < 60_000; waited += 50) {
    if (loop.hostId !== null) return loop.hostId;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('the host did not register within 60 s');
}

/** Runs `jobs` with at most `limit` in flight (joins and registrations: the Manager's pool is the limit). */
async function inBatches<T, R>(items: readonly T[], limit: number, job: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  for (let i = 0; i < items.length; i += limit) results.push(...(await Promise.all(items.slice(i, i + limit).map(job))));
  return results;
}

async function handle(message: ParentMessage): Promise<void> {
  switch (message.kind) {
    case 'start': {
      const started = await inBatches(message.hosts, 10, (host) =>
        startHost(host.name, host.joinToken, message.managerBases, message.images, message.imageRoot),
      );
      send({ kind: 'ready', hosts: started });
      return;
    }
    case 'seed': {
      // The Agent's own apply use case on the fake adapters: the records, TAP names, rootfs copies
      // and VMM processes an Agent would hold after these creates.
      let seeded = 0;
      for (const { hostName, vmId, spec } of message.vms) {
        const host = hosts.get(hostName);
        if (host === undefined) throw new Error(`no simulated host ${hostName}`);
        await applyVm(host.agent.context, parseVmId(vmId), spec as VmSpec);
        seeded += 1;
      }
      send({ kind: 'seeded', count: seeded });
      return;
    }
    case 'stats': {
      const latenciesMs: number[] = [];
      let failures = 0;
      for (const host of hosts.values()) {
        latenciesMs.push(...host.manager.latenciesMs);
        failures += host.manager.failures;
        host.manager.latenciesMs = [];
        host.manager.failures = 0;
      }
      send({ kind: 'stats', heartbeatLatenciesMs: latenciesMs, heartbeatFailures: failures });
      return;
    }
    case 'hold-heartbeats': {
      await holdHeartbeats();
      send({ kind: 'heartbeats-held' });
      return;
    }
    case 'release-heartbeats': {
      releaseHeartbeats();
      send({ kind: 'heartbeats-released' });
      return;
    }
    case 'stop': {
      await Promise.all([...hosts.values()].map((host) => host.close().catch(() => undefined)));
      send({ kind: 'stopped' });
      process.exit(0);
    }
  }
}

process.on('message', (message: ParentMessage) => {
  handle(message).catch((error: unknown) => {
    send({ kind: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  });
});
process.on('disconnect', () => process.exit(0));
