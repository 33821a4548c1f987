import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { HttpServer } from '@hearth/http-server';
import { openSse, type SseClient } from '@hearth/testkit';
import { buildTestApp } from '../testing/test-app.js';
import { createWorld } from '../testing/world.js';

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
    clients.push(await openSse(`${base}/v1/events/stream`));
    expect(clients[0]!.status).toBe(200);
  });
});
