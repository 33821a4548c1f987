import { describe, expect, it } from 'vitest';
import { createTransport } from './transport.js';

/** A fetch that answers from a script and records what it was sent. */
function scripted(...answers: Array<Response | Error>) {
  const seen: Request[] = [];
  const send = async (request: Request): Promise<Response> => {
    seen.push(request);
    const answer = answers.shift() ?? new Response('{}', { status: 200 });
    if (answer instanceof Error) throw answer;
    return answer;
  };
  return { seen, fetch: send as typeof fetch };
}

describe('createTransport', () => {
  it('sends the token and gives a POST an Idempotency-Key, the same on each retry', async () => {
    const server = scripted(
      new TypeError('fetch failed'),
      new Response(null, { status: 503 }),
      new Response('{}', { status: 201 }),
    );
    const transport = createTransport({ token: 'hth_x', fetch: server.fetch, retryDelayMs: 1 });
    const response = await transport(new Request('http://manager/v1/vms', { method: 'POST', body: '{"name":"a"}' }));
    expect(response.status).toBe(201);
    expect(server.seen).toHaveLength(3);
    const keys = server.seen.map((request) => request.headers.get('idempotency-key'));
    expect(new Set(keys).size).toBe(1);
    expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(server.seen.every((request) => request.headers.get('authorization') === 'Bearer hth_x')).toBe(true);
    expect(await Promise.all(server.seen.map((request) => request.text()))).toEqual(Array(3).fill('{"name":"a"}'));
  });

  it('keeps a key the caller set and gives a GET none', async () => {
    const server = scripted();
    const transport = createTransport({ fetch: server.fetch });
    await transport(new Request('http://manager/v1/vms', { method: 'POST', headers: { 'idempotency-key': 'mine' } }));
    await transport(new Request('http://manager/v1/vms'));
    expect(server.seen.map((request) => request.headers.get('idempotency-key'))).toEqual(['mine', null]);
  });

  it('answers the last answer once the retries are spent, and does not retry a refusal', async () => {
    const unavailable = scripted(...Array.from({ length: 3 }, () => new Response(null, { status: 503 })));
    expect((await createTransport({ fetch: unavailable.fetch, retryDelayMs: 1 })(new Request('http://m/'))).status).toBe(503);
    expect(unavailable.seen).toHaveLength(3);
    const refused = scripted(new Response(null, { status: 409 }));
    expect((await createTransport({ fetch: refused.fetch, retryDelayMs: 1 })(new Request('http://m/'))).status).toBe(409);
    expect(refused.seen).toHaveLength(1);
  });

  it('gives a 429 asking for longer than it waits to the caller at once', async () => {
    const limited = scripted(new Response(null, { status: 429, headers: { 'retry-after': '60' } }));
    expect((await createTransport({ fetch: limited.fetch })(new Request('http://m/'))).status).toBe(429);
    expect(limited.seen).toHaveLength(1);
  });
});
