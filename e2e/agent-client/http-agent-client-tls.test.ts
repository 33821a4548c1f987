import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { createLogger } from '@hearth/http-server';
import { isAppError } from '@hearth/errors';
import { CertificateAuthority, generateKeyPair } from '@hearth/pki';
import { createFakeAgent } from '../../apps/agent/src/adapters/fake/fake-agent-context.js';
import { testSpec } from '../../apps/agent/src/adapters/fake/fake-fixtures.js';
import { FakeHostProbe } from '../../apps/agent/src/adapters/fake/fake-host-probe.js';
import { PromAgentMetrics } from '../../apps/agent/src/adapters/metrics/prom-agent-metrics.js';
import { parseVmId } from '../../apps/agent/src/domain/vm-id.js';
import { createAgentApp } from '../../apps/agent/src/http/create-agent-app.js';
import { agentCallConnections } from '../../apps/manager/src/adapters/agent-http/agent-tls-pools.js';
import { defaultAgentClientOptions, HttpAgentClient } from '../../apps/manager/src/adapters/agent-http/http-agent-client.js';
import type { VmId } from '../../apps/manager/src/domain/ids.js';
import { describeAgentClientContract } from './agent-client.contract.js';

const agentId = 'agent_01J00000000000000000000001';
const credentialId = 'cred_01J00000000000000000000001';
const otherAgentId = 'agent_01J00000000000000000000003';
const otherCredentialId = 'cred_01J00000000000000000000003';

async function issue(ca: CertificateAuthority, uris: string[], usage: 'server' | 'client') {
  const keys = await generateKeyPair();
  const issued = await ca.issue({
    publicKeyPem: keys.publicKeyPem,
    commonName: 'test',
    uris,
    usage,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 3_600_000),
  });
  return { keyPem: keys.privateKeyPem, certificatePem: issued.certificatePem };
}

/** The real Agent app over HTTPS with client certificates, and a Manager's client for it. */
async function tlsPair(
  options: {
    readonly connectionAheadLifetimeMs?: number;
    /** Awaited by the Agent before it takes up each request. */
    readonly beforeEachRequest?: (method: string) => Promise<void>;
  } = {},
) {
  const { beforeEachRequest, ...clientOptions } = options;
  const ca = await CertificateAuthority.create({
    commonName: 'test CA',
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
  });
  const server = await issue(ca, [`urn:hearth:agent:${agentId}`, `urn:hearth:credential:${credentialId}`], 'server');
  const agent = createFakeAgent();
  const others: ReturnType<typeof createAgentApp>[] = [];
  // A new app is a new Agent process over the same host: the fake host's records and VMMs stay.
  const start = async (host = agent, certificate = server): Promise<{ app: ReturnType<typeof createAgentApp>; port: number }> => {
    const app = createAgentApp({
      logger: createLogger({ name: 'agent-tls', level: 'silent' }),
      context: host.context,
      status: {
        probe: new FakeHostProbe(),
        records: host.records,
        clock: host.clock,
        hostName: host === agent ? 'host-a' : 'host-b',
      },
      metrics: { registry: new PromAgentMetrics({ isProcessCollected: false }).registry, refresh: async () => undefined },
      tls: { caCertificatePem: ca.certificatePem, certificatePem: certificate.certificatePem, privateKeyPem: certificate.keyPem },
    });
    if (beforeEachRequest !== undefined) app.addHook('onRequest', async (request) => beforeEachRequest(request.method));
    await app.listen({ host: '127.0.0.1', port: 0 });
    return { app, port: (app.server.address() as AddressInfo).port };
  };
  let running = await start();
  const { port } = running;
  const manager = await issue(ca, ['urn:hearth:manager'], 'client');
  const client = new HttpAgentClient({
    ...defaultAgentClientOptions,
    ...clientOptions,
    tls: { caCertificatePem: ca.certificatePem, clientCertificate: { current: () => manager, onRenewed: () => undefined } },
  });
  return {
    client,
    target: { addr: `https://127.0.0.1:${port}`, agentId, credentialId },
    port,
    /** The Agent's server as it runs now. */
    agentServer: () => running.app.server,
    restartAgent: async () => {
      await running.app.close();
      running = await start();
      return { addr: `https://127.0.0.1:${running.port}`, agentId, credentialId };
    },
    startOtherAgent: async () => {
      const identity = [`urn:hearth:agent:${otherAgentId}`, `urn:hearth:credential:${otherCredentialId}`];
      const other = await start(createFakeAgent(), await issue(ca, identity, 'server'));
      others.push(other.app);
      return { addr: `https://127.0.0.1:${other.port}`, agentId: otherAgentId, credentialId: otherCredentialId };
    },
    tearRecord: async (vmId: string) =>
      agent.records.markUnreadable(parseVmId(vmId), `${agent.context.settings.runDir}/${vmId}`, 'torn'),
    cleanup: async () => {
      await client.close();
      await Promise.all([running.app.close(), ...others.map((app) => app.close())]);
    },
  };
}

describeAgentClientContract('HttpAgentClient talking to the Agent HTTP app over mutual TLS', async () => {
  const pair = await tlsPair();
  return {
    client: pair.client,
    target: pair.target,
    spec: testSpec,
    restartAgent: pair.restartAgent,
    startOtherAgent: pair.startOtherAgent,
    tearRecord: pair.tearRecord,
    cleanup: pair.cleanup,
  };
});

describe('HttpAgentClient over mutual TLS', () => {
  async function reasonOf(promise: Promise<unknown>): Promise<unknown> {
    try {
      await promise;
    } catch (error) {
      if (isAppError(error)) return { code: error.code, reason: error.details?.['reason'] };
      throw error;
    }
    return 'answered';
  }

  it("calls only the host's Agent: a certificate naming another identity or credential is refused at the handshake", async () => {
    const pair = await tlsPair();
    try {
      expect(await reasonOf(pair.client.inventory(pair.target))).toBe('answered');
      const otherAgent = { ...pair.target, agentId: 'agent_01J00000000000000000000002' };
      expect(await reasonOf(pair.client.inventory(otherAgent))).toEqual({
        code: 'AGENT_UNAVAILABLE',
        reason: 'AGENT_IDENTITY_MISMATCH',
      });
      // The same Agent identity after its host was removed and it joined again: another credential.
      const rejoined = { ...pair.target, credentialId: 'cred_01J00000000000000000000009' };
      expect(await reasonOf(pair.client.inventory(rejoined))).toEqual({
        code: 'AGENT_UNAVAILABLE',
        reason: 'AGENT_IDENTITY_MISMATCH',
      });
    } finally {
      await pair.cleanup();
    }
  });

  it('never calls an Agent in clear, nor a host whose Agent has not joined', async () => {
    const pair = await tlsPair();
    try {
      const plain = { ...pair.target, addr: `http://127.0.0.1:${pair.port}` };
      expect(await reasonOf(pair.client.inventory(plain))).toEqual({ code: 'AGENT_UNAVAILABLE', reason: 'agent_not_tls' });
      const unjoined = { addr: pair.target.addr, agentId, credentialId: null };
      expect(await reasonOf(pair.client.inventory(unjoined))).toEqual({ code: 'AGENT_UNAVAILABLE', reason: 'agent_not_joined' });
    } finally {
      await pair.cleanup();
    }
  });

  /** A call of the kind applies are (not a short read): the removal of a VM the Agent does not hold. */
  async function aCall(pair: Awaited<ReturnType<typeof tlsPair>>, i = 0): Promise<unknown> {
    const vmId = `vm_01J0000000000000000000${String(i).padStart(4, '0')}` as VmId;
    const reason = await reasonOf(pair.client.deleteVm(pair.target, vmId));
    return (reason as { code?: unknown }).code === 'VM_NOT_FOUND' ? 'answered' : reason;
  }

  /** Counts the handshakes `server` completes and the connections it sees close, with waits for a count of each. */
  function countConnections(server: { on(event: 'secureConnection', listener: (socket: TLSSocket) => void): unknown }) {
    const counts = { handshakes: 0, closed: 0 };
    const waiters: { readonly kind: keyof typeof counts; readonly count: number; readonly resolve: () => void }[] = [];
    const settle = (): void => {
      for (const waiter of [...waiters]) {
        if (counts[waiter.kind] < waiter.count) continue;
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    };
    server.on('secureConnection', (socket) => {
      counts.handshakes += 1;
      settle();
      socket.on('close', () => {
        counts.closed += 1;
        settle();
      });
    });
    const reached = (kind: keyof typeof counts, count: number): Promise<void> =>
      new Promise((resolve) => {
        waiters.push({ kind, count, resolve });
        settle();
      });
    return { counts, reached };
  }

  it('opens the connections a burst of calls lacks ahead of it, and the calls take them: no handshake of their own', async () => {
    const pair = await tlsPair();
    try {
      const { counts, reached } = countConnections(pair.agentServer());
      const callsTogether = async (count: number): Promise<unknown[]> =>
        Promise.all(Array.from({ length: count }, (_, i) => aCall(pair, i)));

      pair.client.openConnections(pair.target, 3);
      await reached('handshakes', 3);
      expect(await callsTogether(3)).toEqual(['answered', 'answered', 'answered']);
      expect(counts.handshakes).toBe(3);

      // undici marks a connection free again a turn of the event loop after its answer was read.
      await new Promise((resolve) => setImmediate(resolve));
      // The pool's three idle connections count: nothing more is opened for as many calls.
      pair.client.openConnections(pair.target, 3);
      expect(await callsTogether(3)).toEqual(['answered', 'answered', 'answered']);
      expect(counts.handshakes).toBe(3);
    } finally {
      await pair.cleanup();
    }
  });

  it('gives a call a connection whose handshake is still under way rather than opening another', async () => {
    const pair = await tlsPair();
    try {
      const { counts } = countConnections(pair.agentServer());
      pair.client.openConnections(pair.target, 2);
      expect(await Promise.all([aCall(pair, 0), aCall(pair, 1)])).toEqual(['answered', 'answered']);
      expect(counts.handshakes).toBe(2);
    } finally {
      await pair.cleanup();
    }
  });

  it('closes a connection opened ahead that no call took in time, and a later call connects itself', async () => {
    const pair = await tlsPair({ connectionAheadLifetimeMs: 20 });
    try {
      const { counts, reached } = countConnections(pair.agentServer());
      pair.client.openConnections(pair.target, 1);
      await reached('closed', 1);
      expect(await aCall(pair)).toBe('answered');
      expect(counts.handshakes).toBe(2);
    } finally {
      await pair.cleanup();
    }
  });

  it('holds a bounded pool of connections for a burst of calls, the rest waiting for one, and a read apart from them', async () => {
    const calls = 50;
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let received = 0;
    let heldReached!: () => void;
    const allConnectionsHeld = new Promise<void>((resolve) => (heldReached = resolve));
    // The Agent holds every call but the reads until released: each holds its connection meanwhile.
    const pair = await tlsPair({
      beforeEachRequest: async (method) => {
        if (method === 'GET') return;
        received += 1;
        if (received === agentCallConnections) heldReached();
        await released;
      },
    });
    try {
      const { counts } = countConnections(pair.agentServer());
      // Opened ahead for the whole burst: no more than its pool holds.
      pair.client.openConnections(pair.target, calls);
      const burst = Promise.all(Array.from({ length: calls }, (_, i) => aCall(pair, i)));
      await allConnectionsHeld;
      expect(received).toBe(agentCallConnections);
      // Every call connection is taken: a read still goes through, on a connection of its own.
      expect(await reasonOf(pair.client.inventory(pair.target))).toBe('answered');
      release();
      const answers = await burst;
      expect(received).toBe(calls);
      expect(answers).toEqual(Array.from({ length: calls }, () => 'answered'));
      expect(counts.handshakes).toBe(agentCallConnections + 1);
      expect(agentCallConnections).toBeLessThan(calls);
    } finally {
      release();
      await pair.cleanup();
    }
  });

  it('opens nothing for a host it cannot call securely, and throws nothing', async () => {
    const pair = await tlsPair();
    try {
      const { counts } = countConnections(pair.agentServer());
      pair.client.openConnections({ ...pair.target, addr: `http://127.0.0.1:${pair.port}` }, 2);
      pair.client.openConnections({ ...pair.target, credentialId: null }, 2);
      expect(await reasonOf(pair.client.inventory(pair.target))).toBe('answered');
      expect(counts.handshakes).toBe(1);
    } finally {
      await pair.cleanup();
    }
  });
});
