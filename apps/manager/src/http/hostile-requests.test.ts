import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { HttpServer } from '@hearth/http-server';
import { openSse, type SseClient } from '@hearth/testkit';
import { hostRegistration } from '../testing/api-fixtures.js';
import { adminHeaders, buildTestApp } from '../testing/test-app.js';
import { createWorld, hostCapacity, hostFacts } from '../testing/world.js';

// Regressions found by the API fuzz (e2e/api-fuzz.e2e.test.ts), each kept as one behaviour.

let app: HttpServer;
const clients: SseClient[] = [];

beforeEach(async () => {
  app = await buildTestApp(createWorld().deps, { eventStream: { concurrency: { perClient: 1, overall: 1 } } });
});

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await app.close();
});

describe('the event stream under HEAD', () => {
  it('answers HEAD at once with the headers of a stream, holding no stream slot', async () => {
    for (let i = 0; i < 3; i += 1) {
      const response = await app.inject({ method: 'HEAD', url: '/v1/events/stream' });
      expect(response.statusCode).toBe(200);
      expect(response.headers['content-type']).toMatch(/^text\/event-stream/);
      expect(response.body).toBe('');
    }
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    clients.push(await openSse(`${base}/v1/events/stream`, adminHeaders));
    expect(clients[0]!.status).toBe(200);
  });
});

describe('U+0000, which PostgreSQL stores in no text or jsonb column', () => {
  it('is refused in the facts of a host registration with 400 naming the field, before any write', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/hosts/register',
      payload: hostRegistration({ facts: { ...hostFacts(), agentVersion: '0.1.0\u0000' } }),
    });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ code: 'VALIDATION_FAILED', errors: [{ field: 'body/facts/agentVersion' }] });
    expect((await app.inject({ method: 'GET', url: '/v1/hosts' })).json()).toMatchObject({ items: [] });
  });

  it('is refused in an image path and in a name filter with 400 naming the field', async () => {
    const registered = await app.inject({
      method: 'POST',
      url: '/v1/images',
      payload: { kind: 'kernel', name: 'k', hostPath: 'vmlinux\u0000.bak' },
    });
    expect(registered.json()).toMatchObject({ code: 'VALIDATION_FAILED', errors: [{ field: 'body/hostPath' }] });
    const listed = await app.inject({ method: 'GET', url: '/v1/images?name=a%00b' });
    expect(listed.json()).toMatchObject({ code: 'VALIDATION_FAILED', errors: [{ field: 'querystring/name' }] });
  });
});

describe('a lone surrogate, which PostgreSQL refuses in jsonb', () => {
  it('is refused in the facts of a heartbeat with 400 naming the field, not a 500 from the database', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/hosts/host_01J00000000000000000000001/heartbeat',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ capacity: hostCapacity(), facts: { ...hostFacts(), firecrackerBinary: '\udfff\ud800' } }),
    });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ code: 'VALIDATION_FAILED', errors: [{ field: 'body/facts/firecrackerBinary' }] });
  });
});
