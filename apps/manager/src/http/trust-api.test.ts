import { X509Certificate } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { HttpServer } from '@hearth/http-server';
import { generateKeyPair } from '@hearth/pki';
import { buildTestApp } from '../testing/test-app.js';
import { agentIdFor, createWorld, hostCapacity, hostFacts, type World } from '../testing/world.js';

let world: World;
let app: HttpServer;

beforeEach(async () => {
  world = createWorld();
  app = await buildTestApp(world.deps);
});

afterEach(async () => {
  await app.close();
});

interface Joined {
  clusterId: string;
  caCertificate: string;
  certificate: string;
  credential: string;
}

async function joinToken(ttlSeconds?: number): Promise<string> {
  const response = await app.inject({
    method: 'POST',
    url: '/v1/hosts/join-tokens',
    payload: ttlSeconds === undefined ? {} : { ttlSeconds },
  });
  expect(response.statusCode).toBe(201);
  return response.json<{ token: string }>().token;
}

async function join(token: string | undefined, agentId = agentIdFor(1), publicKey?: string) {
  return app.inject({
    method: 'POST',
    url: '/v1/hosts/join',
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    payload: { agentId, publicKey: publicKey ?? (await generateKeyPair()).publicKeyPem },
  });
}

async function register(authorization: string | undefined, agentId = agentIdFor(1)) {
  return app.inject({
    method: 'POST',
    url: '/v1/hosts/register',
    headers: authorization === undefined ? {} : { authorization },
    payload: { name: 'node-a', agentId, addr: 'https://10.0.0.1:19090', capacity: hostCapacity(), facts: hostFacts() },
  });
}

function codeOf(response: { statusCode: number; json(): unknown }): [number, string] {
  return [response.statusCode, (response.json() as { code: string }).code];
}

describe('join tokens', () => {
  it('are made with a recognisable prefix and 256 random bits, good for an hour', async () => {
    const response = await app.inject({ method: 'POST', url: '/v1/hosts/join-tokens' });
    expect(response.statusCode, response.body).toBe(201);
    const created = response.json<{ id: string; token: string; expiresAt: string }>();
    expect(created.token).toMatch(/^hjt_[A-Za-z0-9_-]{43}$/);
    expect(Date.parse(created.expiresAt) - world.clock.now().getTime()).toBe(3_600_000);
  });

  it("are given only to a token with the admin's scope hosts:admin", async () => {
    const anonymous = await app.inject({ method: 'POST', url: '/v1/hosts/join-tokens', headers: { authorization: '' } });
    expect(codeOf(anonymous)).toEqual([401, 'UNAUTHENTICATED']);
    const reader = await world.mintToken({ name: 'reader', scopes: ['vms:write'] });
    const refused = await app.inject({
      method: 'POST',
      url: '/v1/hosts/join-tokens',
      headers: { authorization: `Bearer ${reader}` },
    });
    expect(codeOf(refused)).toEqual([403, 'SCOPE_MISSING']);
  });

  it('let an Agent join once: it gets a certificate for its key naming its identity, and a host credential', async () => {
    const keys = await generateKeyPair();
    const response = await join(await joinToken(), agentIdFor(1), keys.publicKeyPem);
    expect(response.statusCode).toBe(200);
    const joined = response.json<Joined>();
    expect(joined.clusterId).toBe(world.deps.settings.clusterId);
    expect(joined.credential).toMatch(/^hhc_[A-Za-z0-9_-]{43}$/);
    const certificate = new X509Certificate(joined.certificate);
    expect(certificate.verify(new X509Certificate(joined.caCertificate).publicKey)).toBe(true);
    expect(certificate.publicKey.export({ type: 'spki', format: 'pem' })).toBe(keys.publicKeyPem);
    expect(certificate.subjectAltName).toMatch(
      new RegExp(`^URI:urn:hearth:agent:${agentIdFor(1)}, URI:urn:hearth:credential:cred_`),
    );
  });

  it('refuse a second join with a used token (401 JOIN_TOKEN_USED)', async () => {
    const token = await joinToken();
    await join(token, agentIdFor(1));
    expect(codeOf(await join(token, agentIdFor(2)))).toEqual([401, 'JOIN_TOKEN_USED']);
  });

  it('answer the same Agent and key again when its answer was lost, and only the last credential works', async () => {
    const token = await joinToken();
    const keys = await generateKeyPair();
    const lost = await join(token, agentIdFor(1), keys.publicKeyPem);
    expect(lost.statusCode).toBe(200);
    const again = await join(token, agentIdFor(1), keys.publicKeyPem);
    expect(again.statusCode, again.body).toBe(200);
    const { credential, certificate } = again.json<Joined>();
    expect(credential).not.toBe(lost.json<Joined>().credential);
    expect(new X509Certificate(certificate).publicKey.export({ type: 'spki', format: 'pem' })).toBe(keys.publicKeyPem);
    expect(codeOf(await register(`Bearer ${lost.json<Joined>().credential}`))).toEqual([401, 'HOST_CREDENTIAL_INVALID']);
    expect((await register(`Bearer ${credential}`)).statusCode).toBe(200);
    // Once its host registered, the token is used for good, even by the same Agent and key.
    expect(codeOf(await join(token, agentIdFor(1), keys.publicKeyPem))).toEqual([401, 'JOIN_TOKEN_USED']);
    // A thief with the token and the public key but another identity gets nothing either.
    expect(codeOf(await join(token, agentIdFor(2), keys.publicKeyPem))).toEqual([401, 'JOIN_TOKEN_USED']);
  });

  it('refuse a join after they expired (401 JOIN_TOKEN_EXPIRED)', async () => {
    const token = await joinToken(60);
    world.clock.advance(60_000);
    expect(codeOf(await join(token))).toEqual([401, 'JOIN_TOKEN_EXPIRED']);
  });

  it.each([
    ['no token', undefined],
    ['a made-up token', `hjt_${'A'.repeat(43)}`],
    ['a host credential in place of a token', `hhc_${'A'.repeat(43)}`],
  ])('refuse a join with %s (401 JOIN_TOKEN_INVALID)', async (_what, token) => {
    expect(codeOf(await join(token))).toEqual([401, 'JOIN_TOKEN_INVALID']);
  });

  it('refuse a key the CA does not certify, and the token stays usable', async () => {
    const token = await joinToken();
    const rsa = (await import('node:crypto')).generateKeyPairSync('rsa', { modulusLength: 2048 });
    const response = await join(token, agentIdFor(1), rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString());
    expect(codeOf(response)).toEqual([400, 'VALIDATION_FAILED']);
    expect((await join(token)).statusCode).toBe(200);
  });

  it('refuse a second join of an Agent identity that joined already (409 AGENT_ALREADY_JOINED)', async () => {
    await join(await joinToken(), agentIdFor(1));
    expect(codeOf(await join(await joinToken(), agentIdFor(1)))).toEqual([409, 'AGENT_ALREADY_JOINED']);
  });
});

describe('host credentials', () => {
  async function joined(agentId = agentIdFor(1)): Promise<Joined> {
    return (await join(await joinToken(), agentId)).json<Joined>();
  }

  it.each([
    ['no credential', undefined],
    ['a made-up credential', `Bearer hhc_${'A'.repeat(43)}`],
    ['another scheme', `Basic ${Buffer.from('admin:admin').toString('base64')}`],
  ])('are required to register: %s is refused with 401 HOST_CREDENTIAL_INVALID and nothing is registered', async (_w, auth) => {
    expect(codeOf(await register(auth))).toEqual([401, 'HOST_CREDENTIAL_INVALID']);
    expect((await app.inject({ method: 'GET', url: '/v1/hosts' })).json<{ items: unknown[] }>().items).toEqual([]);
  });

  it('refuse a join token in place of a credential: an Agent that has not joined cannot register', async () => {
    expect(codeOf(await register(`Bearer ${await joinToken()}`))).toEqual([401, 'HOST_CREDENTIAL_INVALID']);
  });

  it("let an Agent register only under its own identity (403 HOST_CREDENTIAL_MISMATCH for another's)", async () => {
    const mine = await joined(agentIdFor(1));
    expect(codeOf(await register(`Bearer ${mine.credential}`, agentIdFor(2)))).toEqual([403, 'HOST_CREDENTIAL_MISMATCH']);
    expect((await register(`Bearer ${mine.credential}`, agentIdFor(1))).statusCode).toBe(200);
  });

  it("refuse a heartbeat with another Agent's credential (403) or none (401)", async () => {
    const victim = await joined(agentIdFor(1));
    const id = (await register(`Bearer ${victim.credential}`)).json<{ id: string }>().id;
    const attacker = await joined(agentIdFor(2));
    const beat = (authorization?: string) =>
      app.inject({
        method: 'POST',
        url: `/v1/hosts/${id}/heartbeat`,
        headers: authorization === undefined ? {} : { authorization },
        payload: { capacity: hostCapacity(), facts: hostFacts() },
      });
    expect(codeOf(await beat(`Bearer ${attacker.credential}`))).toEqual([403, 'HOST_CREDENTIAL_MISMATCH']);
    expect(codeOf(await beat())).toEqual([401, 'HOST_CREDENTIAL_INVALID']);
    expect((await beat(`Bearer ${victim.credential}`)).statusCode).toBe(204);
  });

  it('renew the certificate for a new key, with the same identity', async () => {
    const agent = await joined();
    const keys = await generateKeyPair();
    const response = await app.inject({
      method: 'POST',
      url: '/v1/hosts/certificate',
      headers: { authorization: `Bearer ${agent.credential}` },
      payload: { publicKey: keys.publicKeyPem },
    });
    expect(response.statusCode).toBe(200);
    const renewed = new X509Certificate(response.json<{ certificate: string }>().certificate);
    expect(renewed.publicKey.export({ type: 'spki', format: 'pem' })).toBe(keys.publicKeyPem);
    expect(renewed.subjectAltName).toBe(new X509Certificate(agent.certificate).subjectAltName);
  });

  it('stop working when the host is removed: no registration, no renewal', async () => {
    const agent = await joined();
    const id = (await register(`Bearer ${agent.credential}`)).json<{ id: string }>().id;
    world.clock.advance(60_000);
    expect((await app.inject({ method: 'DELETE', url: `/v1/hosts/${id}` })).statusCode).toBe(204);
    expect(codeOf(await register(`Bearer ${agent.credential}`))).toEqual([401, 'HOST_CREDENTIAL_INVALID']);
    const renewal = await app.inject({
      method: 'POST',
      url: '/v1/hosts/certificate',
      headers: { authorization: `Bearer ${agent.credential}` },
      payload: { publicKey: (await generateKeyPair()).publicKeyPem },
    });
    expect(codeOf(renewal)).toEqual([401, 'HOST_CREDENTIAL_INVALID']);
  });
});
