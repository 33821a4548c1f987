import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpServer, type HttpServer } from './create-http-server.js';
import { createLogger } from './logger.js';

let app: HttpServer;
let port: number;
/** Answers that went out through Fastify (what hooks such as an audit log see), and deletes carried out. */
let sentThroughFastify = 0;
let deletesDone = 0;

beforeAll(async () => {
  app = createHttpServer({ logger: createLogger({ name: 'test', level: 'silent' }) });
  app.addHook('onSend', async (_request, _reply, payload) => {
    sentThroughFastify += 1;
    return payload;
  });
  app.get('/items/:id', async (request) => ({ id: (request.params as { id: string }).id }));
  app.post('/items', async (request) => request.body);
  app.delete('/items/:id', async () => {
    deletesDone += 1;
    return { isDeleted: true };
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  port = (app.server.address() as AddressInfo).port;
});

afterAll(async () => {
  await app.close();
});

/**
 * Sends `bytes` as they are and reads until the server closes: status, headers, body. With
 * `isStillSending`, the server may answer before it has read everything, and a failed write is no
 * error: what was read is the answer.
 */
function exchange(
  bytes: string,
  isStillSending = false,
): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (data += chunk));
    socket.once('error', (error) => (isStillSending ? undefined : reject(error)));
    socket.once('close', () => {
      const [head = '', body = ''] = data.split('\r\n\r\n');
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers = Object.fromEntries(
        lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]),
      );
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body });
    });
    socket.write(bytes, 'latin1');
    // A client busy elsewhere meanwhile: the server's answer and whatever follows it are all there when it looks.
    if (isStillSending) for (const until = Date.now() + 300; Date.now() < until;) continue;
  });
}

function expectProblem(answer: { status: number; headers: Record<string, string>; body: string }, status: number, code: string) {
  expect(answer.status).toBe(status);
  expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/);
  const problem = JSON.parse(answer.body) as { status: number; code: string; correlationId: string };
  expect(problem).toMatchObject({ status, code });
  expect(problem.correlationId).toBe(answer.headers['x-request-id']);
}

describe('requests Node or the router refuse before a route runs are answered as problems', () => {
  it('answers bytes that are not HTTP/1.1 with 400 MALFORMED_REQUEST', async () => {
    expectProblem(await exchange('GET /items/1 HTTP/1.1\r\nHost: x\r\nX-Broken header\r\n\r\n'), 400, 'MALFORMED_REQUEST');
    expectProblem(await exchange('FUZZ /items/1 HTTP/1.1\r\nHost: x\r\n\r\n'), 400, 'MALFORMED_REQUEST');
  });

  it('answers a client still sending a large body, and reads on before closing so that the answer is not lost', async () => {
    const bodyBytes = 8 * 1024 * 1024;
    for (let i = 0; i < 5; i += 1) {
      const answer = await exchange(
        `POST /items\u0000x HTTP/1.1\r\nHost: x\r\nContent-Length: ${bodyBytes}\r\n\r\n${'a'.repeat(bodyBytes)}`,
        true,
      );
      expectProblem(answer, 400, 'MALFORMED_REQUEST');
    }
  });

  it('answers a broken chunked body of a request under way while the client still sends, without losing the answer', async () => {
    const bodyBytes = 8 * 1024 * 1024;
    for (let i = 0; i < 5; i += 1) {
      const answer = await exchange(
        `POST /items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n${'a'.repeat(bodyBytes)}\r\n0\r\n\r\n`,
        true,
      );
      expectProblem(answer, 400, 'MALFORMED_REQUEST');
    }
  });

  it('abandons a request whose body the parser refuses: its route never runs and no second answer goes out', async () => {
    for (const body of ['zz\r\n{}\r\n0\r\n\r\n', `2\r\n{}\r\nzz\r\n${'a'.repeat(1024 * 1024)}\r\n0\r\n\r\n`]) {
      const connectionClosed = new Promise<void>((resolve) =>
        app.server.once('connection', (socket: net.Socket) => socket.once('close', () => resolve())),
      );
      const [sentBefore, deletesBefore] = [sentThroughFastify, deletesDone];
      const answer = await exchange(
        `DELETE /items/1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${body}`,
        true,
      );
      expectProblem(answer, 400, 'MALFORMED_REQUEST');
      await connectionClosed;
      // What a request does when its connection closes (its body's stream fails) runs by the next turn.
      await new Promise((resolve) => setImmediate(resolve));
      expect(deletesDone - deletesBefore, 'deletes carried out').toBe(0);
      expect(sentThroughFastify - sentBefore, 'answers sent through Fastify').toBe(0);
    }
  });

  it('answers a whole request as its route says when bytes it cannot parse follow, then closes', async () => {
    const deletesBefore = deletesDone;
    const answer = await exchange(
      'DELETE /items/1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}' +
        'FUZZ /items/2 HTTP/1.1\r\nHost: x\r\n\r\n',
    );
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ isDeleted: true });
    expect(deletesDone - deletesBefore).toBe(1);
  });

  it('answers headers larger than the server reads with 431 REQUEST_HEADERS_TOO_LARGE', async () => {
    const answer = await exchange(`GET /items/1 HTTP/1.1\r\nHost: x\r\nX-Huge: ${'h'.repeat(20_000)}\r\n\r\n`);
    expectProblem(answer, 431, 'REQUEST_HEADERS_TOO_LARGE');
  });

  it('answers a HEAD it cannot parse with headers only', async () => {
    const answer = await exchange(`HEAD /items/1 HTTP/1.1\r\nHost: x\r\nX-Huge: ${'h'.repeat(20_000)}\r\n\r\n`);
    expect(answer.status).toBe(431);
    expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(answer.body).toBe('');
  });

  it('answers an HTTP/1.1 request without Host with 400 MALFORMED_REQUEST', async () => {
    expectProblem(await exchange('GET /items/1 HTTP/1.1\r\nConnection: close\r\n\r\n'), 400, 'MALFORMED_REQUEST');
  });

  it('answers a malformed percent-encoding in the path with 400 MALFORMED_URL', async () => {
    const response = await app.inject({ method: 'GET', url: '/items/%zz%ff' });
    expect(response.statusCode).toBe(400);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(response.json()).toMatchObject({ code: 'MALFORMED_URL', correlationId: response.headers['x-request-id'] });
  });

  it('answers a path segment longer than the router takes with 400 VALIDATION_FAILED', async () => {
    const response = await app.inject({ method: 'GET', url: `/items/${'v'.repeat(500)}` });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ code: 'VALIDATION_FAILED', errors: [{ field: 'params' }] });
  });
});

describe('U+0000 in what a client sends', () => {
  it('is refused with 400 VALIDATION_FAILED naming where it is: a body string, a key, a query value, a path parameter', async () => {
    const cases = [
      { method: 'POST', url: '/items', payload: { facts: { version: 'a\u0000b' } }, field: 'body/facts/version' },
      { method: 'POST', url: '/items', payload: { 'k\u0000': 1 }, field: 'body/k\u0000' },
      { method: 'POST', url: '/items', payload: [[['x', 'y\u0000']]], field: 'body/0/0/1' },
      { method: 'GET', url: '/items/1?name=a%00b', field: 'querystring/name' },
      { method: 'GET', url: '/items/a%00b', field: 'params/id' },
    ] as const;
    for (const { field, ...request } of cases) {
      const response = await app.inject(request);
      expect(response.statusCode).toBe(400);
      expect(response.json()).toMatchObject({ code: 'VALIDATION_FAILED', errors: [{ field }] });
    }
  });

  it('is found in a body nested deeper than a call stack goes', async () => {
    const depth = 200_000;
    const response = await app.inject({
      method: 'POST',
      url: '/items',
      headers: { 'content-type': 'application/json' },
      payload: `${'['.repeat(depth)}"\\u0000"${']'.repeat(depth)}`,
    });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ code: 'VALIDATION_FAILED' });
  });
});

describe('a lone surrogate in what a client sends', () => {
  it('is refused with 400 VALIDATION_FAILED naming where it is, a pair being welcome', async () => {
    const cases = [
      { payload: '{"facts":{"binary":"\\udfff\\ud800"}}', field: 'body/facts/binary' },
      { payload: '{"a\\ud800":1}', field: 'body/a\ud800' },
      { payload: '["x\\udc00y"]', field: 'body/0' },
    ];
    for (const { payload, field } of cases) {
      const response = await app.inject({
        method: 'POST',
        url: '/items',
        headers: { 'content-type': 'application/json' },
        payload,
      });
      expect(response.statusCode, payload).toBe(400);
      expect(response.json()).toMatchObject({
        code: 'VALIDATION_FAILED',
        errors: [{ field, message: expect.stringMatching(/surrogate/) }],
      });
    }
    const paired = await app.inject({
      method: 'POST',
      url: '/items',
      headers: { 'content-type': 'application/json' },
      payload: '{"emoji":"\\ud83d\\ude00"}',
    });
    expect(paired.json()).toEqual({ emoji: '😀' });
  });
});
