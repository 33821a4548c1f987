import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '@hearth/errors';
import { createHttpServer, type HttpServer } from './create-http-server.js';
import { createLogger } from './logger.js';

/**
 * A server may answer before it has read the whole request: a body over the limit, a request its
 * hooks refuse, a body whose framing breaks. Closed at once with the client's bytes still coming,
 * the connection is reset, and a client that reads only after sending (as many do) never sees the
 * answer (RFC 9112 §9.6). Each answer here must reach such a client.
 */
let app: HttpServer;
let port: number;

beforeAll(async () => {
  app = createHttpServer({ logger: createLogger({ name: 'test', level: 'silent' }) });
  app.delete('/items/:id', async () => ({ isDeleted: true }));
  app.delete(
    '/guarded/:id',
    {
      onRequest: async () => {
        throw new AppError('UNAUTHENTICATED', 'Missing or invalid API token');
      },
    },
    async () => ({ isDeleted: true }),
  );
  await app.listen({ host: '127.0.0.1', port: 0 });
  port = (app.server.address() as AddressInfo).port;
});

afterAll(async () => {
  await app.close();
});

/**
 * Sends `head` and `body` and reads the answer only once everything is sent (or the sending
 * failed), then reads until the server closes. What was read is the answer; a reset that took it
 * is an empty answer.
 */
function sendThenRead(head: string, body: Buffer): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    socket.setEncoding('latin1');
    socket.pause();
    socket.on('data', (chunk: string) => (data += chunk));
    socket.on('error', () => undefined);
    socket.once('close', () => {
      const [headText = '', bodyText = ''] = data.split('\r\n\r\n');
      const [statusLine = '', ...lines] = headText.split('\r\n');
      const headers = Object.fromEntries(
        lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]),
      );
      resolve({ status: Number(statusLine.split(' ')[1] ?? 0), headers, body: bodyText });
    });
    socket.write(head, 'latin1');
    socket.write(body, () => socket.resume());
  });
}

function expectProblem(answer: { status: number; headers: Record<string, string>; body: string }, status: number, code: string) {
  expect(answer.status, 'an answer arrived').toBe(status);
  expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/);
  const problem = JSON.parse(answer.body) as { status: number; code: string; correlationId: string };
  expect(problem).toMatchObject({ status, code });
  expect(problem.correlationId).toBe(answer.headers['x-request-id']);
}

/** A JSON body of `size` bytes and more, chunked as one chunk with an extension, as the API fuzzer sends it. */
function chunkedJson(size: number): Buffer {
  const json = Buffer.from(`{"a":"${'a'.repeat(size)}"}`);
  return Buffer.concat([Buffer.from(`${json.length.toString(16)};ext=1\r\n`), json, Buffer.from('\r\n0\r\n\r\n')]);
}

const sendings = 3;
const bodyBytes = 8 * 1024 * 1024;
const chunkedHead =
  'DELETE /items/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n';
const sizedHead = (route: string): string =>
  `DELETE ${route} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${bodyBytes}\r\n\r\n`;

describe('an answer given before the request is read reaches a client still sending', () => {
  it.each([
    [
      'a chunked body over the limit with 413 while the client still sends it',
      chunkedHead,
      chunkedJson(bodyBytes),
      413,
      'PAYLOAD_TOO_LARGE',
    ] as const,
    [
      'a Content-Length over the limit with 413 before reading the body',
      sizedHead('/items/1'),
      Buffer.alloc(bodyBytes, 'a'),
      413,
      'PAYLOAD_TOO_LARGE',
    ] as const,
    [
      'a request its hook refuses before the body is read',
      sizedHead('/guarded/1'),
      Buffer.alloc(bodyBytes, 'a'),
      401,
      'UNAUTHENTICATED',
    ] as const,
    [
      'a broken chunk size in the body of a request under way',
      chunkedHead,
      Buffer.concat([Buffer.from('zz\r\n'), Buffer.alloc(bodyBytes, 'a'), Buffer.from('\r\n0\r\n\r\n')]),
      400,
      'MALFORMED_REQUEST',
    ] as const,
  ])('answers %s', async (_what, head, body, status, code) => {
    for (let i = 0; i < sendings; i += 1) {
      expectProblem(await sendThenRead(head, body), status, code);
    }
  });
});
