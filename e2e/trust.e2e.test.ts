import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request as undiciRequest, type Dispatcher } from 'undici';
import {
  createAgentProcess,
  createCleanupStack,
  createJoinToken,
  createNetns,
  createTestClusterTrust,
  joinAsAgent,
  missingRequirements,
  waitFor,
  type HearthProcess,
} from '@hearth/testkit';
import { startCluster, type Cluster, type ClusterVm } from './support/cluster.js';
import { request } from './support/http.js';

/**
 * Trust between Managers and Agents over real processes, tried as an attacker would: who may call
 * an Agent, who may join and register, what removing a host takes away, and certificates renewed
 * while everything runs.
 */
const skipReason = missingRequirements({ root: true, database: true, commands: ['ip', 'mkfs.ext4'] });

/** Short lifetimes, so renewals happen within the test: two thirds of 6 s (plus the backdating). */
const certificateTtlMs = 6_000;

interface AgentTrustFile {
  readonly certificatePem: string;
  readonly privateKeyPem: string;
  readonly credential: string;
}

interface Attempt {
  readonly status?: number;
  readonly code?: string;
  readonly error?: string;
}

/** One GET of the Agent's inventory through `dispatcher`: what came back, or why nothing did. */
async function attempt(url: string, dispatcher?: Dispatcher): Promise<Attempt> {
  try {
    const response = await undiciRequest(`${url}/agent/v1/inventory`, {
      signal: AbortSignal.timeout(5_000),
      ...(dispatcher === undefined ? {} : { dispatcher }),
    });
    const text = await response.body.text();
    let code: string | undefined;
    try {
      code = (JSON.parse(text) as { code?: string }).code;
    } catch {
      code = undefined;
    }
    return { status: response.statusCode, ...(code === undefined ? {} : { code }) };
  } catch (error) {
    return { error: (error as Error & { code?: string }).code ?? (error as Error).message };
  }
}

/** The serial number of the certificate the server at `url` presents now, on a fresh connection. */
async function servedSerial(url: string, cluster: Cluster, client: { cert: string; key: string }): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = tlsConnect(
      { host: hostname, port: Number(port), ca: cluster.trust.caCertificatePem, ...client, checkServerIdentity: () => undefined },
      () => {
        resolve(socket.getPeerCertificate().serialNumber);
        socket.destroy();
      },
    );
    socket.once('error', reject);
  });
}

describe.skipIf(skipReason)(`trust between Managers and Agents${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let cluster: Cluster;
  let images: { kernelImageId: string; rootfsImageId: string };
  const cleanups = createCleanupStack('trust e2e');
  const dispatchers: Dispatcher[] = [];

  beforeAll(async () => {
    cluster = await startCluster({
      agentCount: 2,
      managerEnv: {
        MANAGER_AGENT_CERT_TTL_MS: String(certificateTtlMs),
        MANAGER_CLIENT_CERT_TTL_MS: String(certificateTtlMs),
      },
    });
    images = await cluster.images();
  }, 120_000);

  afterEach(async () => {
    await cleanups.run();
  });

  afterAll(async () => {
    await Promise.all(dispatchers.map((dispatcher) => dispatcher.close().catch(() => undefined)));
    await cluster?.stop();
  });

  const asAdmin = (): Record<string, string> => ({ authorization: `Bearer ${cluster.adminToken}` });

  function trustFileOf(index: number): AgentTrustFile {
    return JSON.parse(readFileSync(path.join(cluster.agents[index]!.runDir, 'agent-trust.json'), 'utf8')) as AgentTrustFile;
  }

  /** A TLS client that trusts the cluster's Agents and presents `cert` (or no certificate). */
  function clientWith(cert?: { certificatePem: string; keyPem: string }, ca = cluster.trust.caCertificatePem): Dispatcher {
    const dispatcher = new Agent({
      connect: {
        ca,
        ...(cert === undefined ? {} : { cert: cert.certificatePem, key: cert.keyPem }),
        checkServerIdentity: () => undefined,
      },
    });
    dispatchers.push(dispatcher);
    return dispatcher;
  }

  async function hosts(): Promise<Array<{ id: string; name: string; status: string }>> {
    return (await cluster.api<{ items: Array<{ id: string; name: string; status: string }> }>('GET', '/v1/hosts')).body.items;
  }

  /** An Agent process of this cluster that has not joined, in its own namespace and run directory. */
  async function rogueAgent(name: string): Promise<HearthProcess> {
    const netns = await createNetns();
    cleanups.push(() => netns.destroy());
    const runDir = mkdtempSync(path.join(os.tmpdir(), 'hearth-rogue-'));
    cleanups.push(() => rmSync(runDir, { recursive: true, force: true }));
    const rogue = await createAgentProcess({
      name,
      managerUrl: cluster.managerUrl,
      netns,
      bridge: 'hbr0',
      runDir,
      imageRoot: cluster.imageRoot,
      logFile: path.join(cluster.workDir, `logs/${name}.log`),
      trust: cluster.trust,
    });
    cleanups.push(() => rogue.stop());
    return rogue;
  }

  it("keeps the Agent's key and credential in a file only its owner reads", () => {
    const file = path.join(cluster.agents[0]!.runDir, 'agent-trust.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(trustFileOf(0).credential).toMatch(/^hhc_/);
  });

  it("serves the Manager's certificate, and refuses every other caller", async () => {
    const agentUrl = cluster.agents[0]!.url;
    expect(await attempt(agentUrl, cluster.trust.managerDispatcher)).toEqual({ status: 200 });

    // Plain HTTP to the TLS port gets no answer of the API.
    const plain = await attempt(agentUrl.replace('https://', 'http://'));
    expect(plain.status === undefined || plain.status >= 400).toBe(true);
    expect(plain.status).not.toBe(200);
    // TLS without a client certificate: the handshake fails.
    expect((await attempt(agentUrl, clientWith())).error).toBeDefined();
    // A certificate from another CA, naming itself a Manager: the handshake fails.
    const foreign = await createTestClusterTrust(path.join(cluster.workDir, 'foreign-ca'));
    cleanups.push(() => foreign.close());
    const forged = await foreign.issueClientCertificate(['urn:hearth:manager']);
    expect((await attempt(agentUrl, clientWith(forged))).error).toBeDefined();
    // Another Agent's own certificate and key (stolen from its state directory): not a Manager's.
    const stolen = trustFileOf(1);
    const withStolen = await attempt(
      agentUrl,
      clientWith({ certificatePem: stolen.certificatePem, keyPem: stolen.privateKeyPem }),
    );
    expect(withStolen.status === undefined ? 'refused at the handshake' : withStolen).toSatisfy(
      (outcome) => outcome === 'refused at the handshake' || (outcome as Attempt).code === 'AGENT_CALLER_FORBIDDEN',
    );
    // A client certificate of the cluster CA naming an Agent, not a Manager: 403.
    const agentClient = await cluster.trust.issueClientCertificate([`urn:hearth:agent:agent_01J00000000000000000000666`]);
    expect(await attempt(agentUrl, clientWith(agentClient))).toEqual({ status: 403, code: 'AGENT_CALLER_FORBIDDEN' });
  }, 60_000);

  it("gives join tokens only to a caller with the admin's scope", async () => {
    const anonymous = await request<{ code: string }>(cluster.managerUrl, 'POST', '/v1/hosts/join-tokens', {});
    expect([anonymous.status, anonymous.body.code]).toEqual([401, 'UNAUTHENTICATED']);
    const reader = await cluster.api<{ secret: string }>('POST', '/v1/tokens', { name: 'vm-reader', scopes: ['vms:read'] });
    expect(reader.status, JSON.stringify(reader.body)).toBe(201);
    const refused = await request<{ code: string }>(
      cluster.managerUrl,
      'POST',
      '/v1/hosts/join-tokens',
      {},
      {
        authorization: `Bearer ${reader.body.secret}`,
      },
    );
    expect([refused.status, refused.body.code]).toEqual([403, 'SCOPE_MISSING']);
    // Nor does an Agent's own credential let it invite another Agent.
    const byAgent = await request<{ code: string }>(
      cluster.managerUrl,
      'POST',
      '/v1/hosts/join-tokens',
      {},
      {
        authorization: `Bearer ${trustFileOf(0).credential}`,
      },
    );
    expect(byAgent.status).toBe(401);
  });

  it('lets no Agent register without a valid join token: none, used, expired', async () => {
    const before = (await hosts()).map((host) => host.id).sort();

    const without = await rogueAgent('rogue-without-token');
    expect((await without.launch().exited).code).toBe(1);
    expect(without.process.output()).toContain('AGENT_JOIN_TOKEN');

    const used = await createJoinToken(cluster.managerUrl, { headers: asAdmin() });
    const first = await rogueAgent('rogue-first');
    first.launch({ AGENT_JOIN_TOKEN: used });
    await waitFor(async () => (await hosts()).some((host) => host.name === 'rogue-first'), {
      timeoutMs: 15_000,
      description: () => `the Agent with the token joins and registers\n${first.process.output()}`,
    });
    await first.stop();
    const reusing = await rogueAgent('rogue-used-token');
    expect((await reusing.launch({ AGENT_JOIN_TOKEN: used }).exited).code).toBe(1);
    expect(reusing.process.output()).toContain('JOIN_TOKEN_USED');

    const expiring = await createJoinToken(cluster.managerUrl, { ttlSeconds: 1, headers: asAdmin() });
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const late = await rogueAgent('rogue-expired-token');
    expect((await late.launch({ AGENT_JOIN_TOKEN: expiring }).exited).code).toBe(1);
    expect(late.process.output()).toContain('JOIN_TOKEN_EXPIRED');

    const forged = await rogueAgent('rogue-forged-token');
    expect((await forged.launch({ AGENT_JOIN_TOKEN: `hjt_${'A'.repeat(43)}` }).exited).code).toBe(1);
    expect(forged.process.output()).toContain('JOIN_TOKEN_INVALID');

    // Only the Agent that joined registered a host; the rogues registered nothing.
    const after = await hosts();
    expect(after.filter((host) => !before.includes(host.id)).map((host) => host.name)).toEqual(['rogue-first']);
  }, 90_000);

  it("renews the Agent's and the Manager's certificates without a restart, and the Manager keeps calling the Agent", async () => {
    const agent = cluster.agents[0]!;
    const pid = agent.process.child.pid;
    const managerClient = await cluster.trust.issueClientCertificate(['urn:hearth:manager']);
    const client = { cert: managerClient.certificatePem, key: managerClient.keyPem };
    // The file first: a renewal between the two reads then only makes the wait below see one more.
    const firstCertificate = trustFileOf(0).certificatePem;
    const firstSerial = await servedSerial(agent.url, cluster, client);

    // Past the first certificate's end: renewed (kept, and served on new connections) meanwhile.
    await waitFor(async () => (await servedSerial(agent.url, cluster, client)) !== firstSerial, {
      timeoutMs: 3 * certificateTtlMs,
      description: () => `the agent serves a renewed certificate\n${agent.process.output()}`,
    });
    expect(trustFileOf(0).certificatePem).not.toBe(firstCertificate);
    await new Promise((resolve) => setTimeout(resolve, certificateTtlMs));
    expect(agent.process.child.pid).toBe(pid);
    expect(agent.process.output()).toContain('agent certificate renewed');
    expect(cluster.manager.output()).toContain('manager client certificate renewed');

    // The Manager still reaches the Agent, whose first certificate (and its own first one) expired.
    const created = await cluster.api<ClusterVm>('POST', '/v1/vms', {
      name: 'after-renewal',
      vcpuCount: 1,
      memoryMib: 128,
      ...images,
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.state).toBe('running');
    // And over new connections, after the VM's Agent restarts: with its renewed client certificate.
    const hostName = (await hosts()).find((candidate) => candidate.id === created.body.hostId)!.name;
    const vmAgent = cluster.agents.find((candidate) => candidate.name === hostName)!;
    await vmAgent.kill();
    await vmAgent.start();
    await cluster.waitForHealthyHosts();
    const resources = await cluster.api<{ items: unknown[] }>('GET', `/v1/hosts/${created.body.hostId}/resources`);
    expect(resources.status, JSON.stringify(resources.body)).toBe(200);
    expect((await cluster.api('DELETE', `/v1/vms/${created.body.id}`)).status).toBeLessThan(300);
  }, 90_000);

  it("revokes a removed host's Agent: its credential and certificate stop working", async () => {
    const agent = cluster.agents[1]!;
    const stolen = trustFileOf(1);
    const host = (await hosts()).find((candidate) => candidate.name === agent.name)!;
    await agent.kill();
    await waitFor(async () => (await hosts()).find((candidate) => candidate.id === host.id)?.status === 'unhealthy', {
      timeoutMs: 15_000,
      description: 'the host turns unhealthy once its Agent is gone',
    });
    expect((await cluster.api('DELETE', `/v1/hosts/${host.id}`)).status).toBe(204);

    // The credential: no registration, heartbeat or renewal under it any more.
    const authorization = { authorization: `Bearer ${stolen.credential}` };
    const registration = await request<{ code: string }>(
      cluster.managerUrl,
      'POST',
      '/v1/hosts/register',
      {
        name: agent.name,
        agentId: (JSON.parse(readFileSync(path.join(agent.runDir, 'agent-identity.json'), 'utf8')) as { agentId: string })
          .agentId,
        addr: agent.url,
        capacity: { cpuCount: 1, memoryMibTotal: 1024, memoryMibAvailable: 1000, vmCount: 0 },
        facts: {
          agentVersion: '0.1.0',
          isKvmUsable: true,
          hasFirecracker: true,
          firecrackerBinary: 'firecracker',
          isBridgeUp: true,
          bridge: 'hbr0',
          spawnMode: 'direct',
        },
      },
      authorization,
    );
    expect([registration.status, registration.body.code]).toEqual([401, 'HOST_CREDENTIAL_INVALID']);
    const renewal = await request<{ code: string }>(
      cluster.managerUrl,
      'POST',
      '/v1/hosts/certificate',
      {
        publicKey: (await import('node:crypto'))
          .generateKeyPairSync('ec', { namedCurve: 'P-256' })
          .publicKey.export({ type: 'spki', format: 'pem' }),
      },
      authorization,
    );
    expect([renewal.status, renewal.body.code]).toEqual([401, 'HOST_CREDENTIAL_INVALID']);

    // The Agent itself, started again with what it kept, is refused and registers nothing (and, its
    // renewals refused too, its certificate runs out).
    agent.launch();
    await waitFor(() => agent.process.output().includes('HOST_CREDENTIAL_INVALID'), {
      timeoutMs: 15_000,
      description: () => `the removed host's Agent is refused\n${agent.process.output()}`,
    });
    expect((await hosts()).map((candidate) => candidate.name)).not.toContain(agent.name);

    // Its identity joins again only with a new token, and gets another credential: the certificate
    // it had names the old one, so the Manager would not call it (pinned to the host's credential).
    const rejoined = await joinAsAgent(
      cluster.managerUrl,
      (JSON.parse(readFileSync(path.join(agent.runDir, 'agent-identity.json'), 'utf8')) as { agentId: string }).agentId,
      { headers: asAdmin() },
    );
    expect(rejoined.authorization).not.toBe(`Bearer ${stolen.credential}`);
  }, 90_000);
});
