import { once } from 'node:events';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { agentIdentityUri, credentialIdentityUri, managerIdentityUri } from '@hearth/contracts';
import { CertificateAuthority, generateKeyPair } from '@hearth/pki';
import { request } from 'undici';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AgentTlsPools, type PinnedAgent } from './agent-tls-pools.js';

/** An Agent's HTTPS server over mutual TLS, counting the handshakes it completed and the connections it saw close. */
interface CountingAgent {
  readonly server: Server;
  readonly origin: string;
  handshakes: number;
  closed: number;
  /** Resolves once `count` handshakes (in all) are done. */
  handshaken(count: number): Promise<void>;
  /** Resolves once `count` connections (in all) have closed. */
  closedAll(count: number): Promise<void>;
}

describe('AgentTlsPools: connections opened ahead', () => {
  let ca: CertificateAuthority;
  let pem: { serverKey: string; serverCertificate: string; clientKey: string; clientCertificate: string };
  let agent: CountingAgent;
  const pinned = (origin: string): PinnedAgent => ({ origin, agentId: 'agent-1', credentialId: 'credential-1' });
  const pools: AgentTlsPools[] = [];
  const poolsWith = (aheadLifetimeMs?: number): AgentTlsPools => {
    const made = new AgentTlsPools(
      {
        caCertificatePem: ca.certificatePem,
        clientCertificate: {
          current: () => ({ keyPem: pem.clientKey, certificatePem: pem.clientCertificate }),
          onRenewed: () => undefined,
        },
      },
      aheadLifetimeMs,
    );
    pools.push(made);
    return made;
  };

  beforeAll(async () => {
    const now = Date.now();
    ca = await CertificateAuthority.create({
      commonName: 'test cluster CA',
      notBefore: new Date(now - 3_600_000),
      notAfter: new Date(now + 3_600_000),
    });
    const issue = async (uris: readonly string[], usage: 'server' | 'client') => {
      const keys = await generateKeyPair();
      const issued = await ca.issue({
        publicKeyPem: keys.publicKeyPem,
        commonName: 'test',
        uris,
        usage,
        notBefore: new Date(now - 60_000),
        notAfter: new Date(now + 3_600_000),
      });
      return { key: keys.privateKeyPem, certificate: issued.certificatePem };
    };
    const server = await issue([agentIdentityUri('agent-1'), credentialIdentityUri('credential-1')], 'server');
    const client = await issue([managerIdentityUri], 'client');
    pem = {
      serverKey: server.key,
      serverCertificate: server.certificate,
      clientKey: client.key,
      clientCertificate: client.certificate,
    };
  });

  afterEach(async () => {
    await Promise.all(pools.splice(0).map((made) => made.close()));
    agent?.server.closeAllConnections();
    agent?.server.close();
  });

  async function startAgent(): Promise<CountingAgent> {
    const server = createServer(
      { key: pem.serverKey, cert: pem.serverCertificate, ca: ca.certificatePem, requestCert: true, rejectUnauthorized: true },
      (_request, response) => {
        response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      },
    );
    const waiters: { readonly kind: 'handshakes' | 'closed'; readonly count: number; readonly resolve: () => void }[] = [];
    const settle = (): void => {
      for (const waiter of [...waiters]) {
        if (counting[waiter.kind] < waiter.count) continue;
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    };
    const waitFor = (kind: 'handshakes' | 'closed', count: number): Promise<void> =>
      new Promise((resolve) => {
        waiters.push({ kind, count, resolve });
        settle();
      });
    server.on('secureConnection', (socket: TLSSocket) => {
      counting.handshakes += 1;
      settle();
      socket.on('close', () => {
        counting.closed += 1;
        settle();
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    const counting: CountingAgent = {
      server,
      origin: `https://127.0.0.1:${port}`,
      handshakes: 0,
      closed: 0,
      handshaken: (count) => waitFor('handshakes', count),
      closedAll: (count) => waitFor('closed', count),
    };
    return counting;
  }

  const callsTogether = async (made: AgentTlsPools, count: number): Promise<number[]> =>
    Promise.all(
      Array.from({ length: count }, async () => {
        const response = await request(`${agent.origin}/agent/v1/health`, { dispatcher: made.poolFor(pinned(agent.origin)) });
        await response.body.text();
        return response.statusCode;
      }),
    );

  it('opens the connections a burst of calls lacks ahead of it, and the calls take them: no handshake of their own', async () => {
    agent = await startAgent();
    const made = poolsWith();

    made.openAhead(pinned(agent.origin), 3);
    await agent.handshaken(3);
    expect(await callsTogether(made, 3)).toEqual([200, 200, 200]);
    expect(agent.handshakes).toBe(3);

    // undici marks a connection free again a turn of the event loop after its answer was read.
    await new Promise((resolve) => setImmediate(resolve));
    // The pool's three free connections count: nothing more is opened for as many calls.
    made.openAhead(pinned(agent.origin), 3);
    expect(await callsTogether(made, 3)).toEqual([200, 200, 200]);
    expect(agent.handshakes).toBe(3);
  });

  it('gives a call a connection whose handshake is still under way rather than opening another', async () => {
    agent = await startAgent();
    const made = poolsWith();

    made.openAhead(pinned(agent.origin), 2);
    expect(await callsTogether(made, 2)).toEqual([200, 200]);
    expect(agent.handshakes).toBe(2);
  });

  it('closes a connection opened ahead that no call took in time, and a later call connects itself', async () => {
    agent = await startAgent();
    const made = poolsWith(20);

    made.openAhead(pinned(agent.origin), 1);
    await agent.handshaken(1);
    await agent.closedAll(1);
    expect(await callsTogether(made, 1)).toEqual([200]);
    expect(agent.handshakes).toBe(2);
  });
});
