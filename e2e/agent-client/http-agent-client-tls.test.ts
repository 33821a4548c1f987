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
import { defaultAgentClientOptions, HttpAgentClient } from '../../apps/manager/src/adapters/agent-http/http-agent-client.js';
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
async function tlsPair(options: { readonly connectionAheadLifetimeMs?: number } = {}) {
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
    await app.listen({ host: '127.0.0.1', port: 0 });
    return { app, port: (app.server.address() as AddressInfo).port };
  };
  let running = await start();
  const { port } = running;
  const manager = await issue(ca, ['urn:hearth:manager'], 'client');
  const client = new HttpAgentClient({
    ...defaultAgentClientOptions,
    ...options,
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
        Promise.all(Array.from({ length: count }, () => reasonOf(pair.client.inventory(pair.target))));

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
      const answers = await Promise.all([pair.client.inventory(pair.target), pair.client.inventory(pair.target)]);
      expect(answers).toHaveLength(2);
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
      expect(await reasonOf(pair.client.inventory(pair.target))).toBe('answered');
      expect(counts.handshakes).toBe(2);
    } finally {
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
