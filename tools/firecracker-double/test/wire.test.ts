import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Proc, ApiClient } from './helpers.js';
import { cleanupAll, rawExchange, requestBytes, startDouble, until } from './helpers.js';

let fc: Proc & { api: ApiClient };
beforeAll(async () => {
  fc = await startDouble(['--http-api-max-payload-size', '250']);
});
afterAll(cleanupAll);

describe('wire format (behaviour.md#wire-format)', () => {
  it('200 responses: no reason phrase, header order, compact JSON', async () => {
    const [r] = await rawExchange(fc.sock, 'GET / HTTP/1.1\r\n\r\n', 1);
    const body = '{"id":"anonymous-instance","state":"Not started","vmm_version":"1.16.1","app_name":"Firecracker"}';
    expect(r?.raw.toString()).toBe(
      `HTTP/1.1 200 \r\nServer: Firecracker API\r\nConnection: keep-alive\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
  });

  it('204 responses have no body and no Content-Length', async () => {
    const [r] = await rawExchange(fc.sock, requestBytes('PUT', '/entropy', {}), 1);
    expect(r?.raw.toString()).toBe('HTTP/1.1 204 \r\nServer: Firecracker API\r\nConnection: keep-alive\r\n\r\n');
  });

  it('oversized payloads get the byte-exact 400', async () => {
    const body = 'x'.repeat(260);
    const [r] = await rawExchange(fc.sock, `PUT /mmds HTTP/1.1\r\nContent-Length: 260\r\n\r\n${body}`, 1);
    expect(r?.raw.toString()).toBe(
      'HTTP/1.1 400 \r\nServer: Firecracker API\r\nConnection: keep-alive\r\nContent-Type: application/json\r\nContent-Length: 145\r\n\r\n{ "error": "Request payload with size 260 is larger than the limit of 250 allowed by server.\nAll previous unanswered requests will be dropped." }',
    );
  });

  it.each([
    ['POST / HTTP/1.1\r\n\r\n', 'Invalid HTTP Method: Unsupported HTTP method.'],
    ['get / HTTP/1.1\r\n\r\n', 'Invalid HTTP Method: Unsupported HTTP method.'],
    ['GET / HTTP/2.0\r\n\r\n', 'Invalid HTTP Version: Unsupported HTTP version.'],
    ['GET /\r\n\r\n', 'Invalid request.'],
    ['GET / HTTP/1.1\r\nContent-Length: abc\r\n\r\n', 'Invalid header. Reason: Invalid value. Key:Content-Length; Value: abc'],
    ['GET / HTTP/1.1\r\nNoColonHere\r\n\r\n', 'Invalid header. Reason: Header is incorrectly formatted. Key: NoColonHere'],
    [`GET /${'a'.repeat(1100)} HTTP/1.1\r\n\r\n`, 'Invalid request.'],
  ])('parse error %#', async (req, reason) => {
    const [r] = await rawExchange(fc.sock, req, 1);
    expect(r?.status).toBe(400);
    expect(r?.body).toBe(`{ "error": "${reason}\nAll previous unanswered requests will be dropped." }`);
  });

  it('Expect: 100-continue gets an interim response', async () => {
    const rs = await rawExchange(fc.sock, 'PUT /entropy HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n{}', 2);
    expect(rs[0]?.raw.toString()).toBe('HTTP/1.1 100 \r\nServer: Firecracker API\r\nConnection: keep-alive\r\n\r\n');
    expect(rs[1]?.status).toBe(204);
  });

  it('absolute-form URIs are accepted; query strings make the path unknown', async () => {
    const rs = await rawExchange(fc.sock, 'GET http://localhost/version HTTP/1.1\r\n\r\nGET /version?a=b HTTP/1.1\r\n\r\n', 2);
    expect(rs[0]?.json()).toEqual({ firecracker_version: '1.16.1' });
    expect(rs[1]?.json()).toEqual({ fault_message: 'Invalid request method and/or path: GET version?a=b.' });
  });

  it('pipelined requests are answered in order on one connection', async () => {
    const bytes = Buffer.concat([
      requestBytes('GET', '/version'),
      requestBytes('PUT', '/entropy', {}),
      requestBytes('GET', '/machine-config'),
    ]);
    const rs = await rawExchange(fc.sock, bytes, 3);
    expect(rs.map((r) => r.status)).toEqual([200, 204, 200]);
    expect(rs[2]?.json()).toMatchObject({ vcpu_count: 1, mem_size_mib: 128 });
  });

  it('Transfer-Encoding: chunked is accepted but the body is not decoded', async () => {
    const [r] = await rawExchange(fc.sock, 'GET /version HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n', 1);
    expect(r?.status).toBe(200);
  });

  it('the 11th concurrent connection gets the exact 503 and is closed', async () => {
    const open = await Promise.all(
      Array.from(
        { length: 10 },
        () =>
          new Promise<ReturnType<typeof connect>>((res) => {
            const s = connect(fc.sock, () => res(s));
          }),
      ),
    );
    // Make sure all ten are accepted before the eleventh.
    await Promise.all(
      open.map(
        (s) =>
          new Promise<void>((res) => {
            s.once('data', () => res());
            s.write('GET / HTTP/1.1\r\n\r\n');
          }),
      ),
    );
    const eleventh = await new Promise<string>((res) => {
      const s = connect(fc.sock);
      let data = '';
      s.on('data', (d) => (data += d.toString()));
      s.on('close', () => res(data));
    });
    expect(eleventh).toBe(
      'HTTP/1.1 503\r\nServer: Firecracker API\r\nConnection: close\r\nContent-Length: 40\r\n\r\n{ "error": "Too many open connections" }',
    );
    for (const s of open) s.destroy();
    // Until the double has seen the ten close, a new connection may still be refused and closed
    // before the probe's request is written (EPIPE): that is "not yet", not a failure.
    const probe = async (): Promise<boolean> =>
      (await rawExchange(fc.sock, 'GET / HTTP/1.1\r\n\r\n', 1).catch(() => []))[0]?.status === 200;
    await until(probe, 3000, 'slot freed');
  });

  it('requests from different connections are processed serially', async () => {
    // A slow snapshot-free path: many pipelined requests on two connections interleave but each
    // response reflects every earlier request.
    const a = rawExchange(
      fc.sock,
      Buffer.concat(Array.from({ length: 20 }, (_, i) => requestBytes('PUT', '/mmds', { n: i }))),
      20,
    );
    const b = rawExchange(fc.sock, Buffer.concat(Array.from({ length: 20 }, () => requestBytes('GET', '/mmds'))), 20);
    const [ra, rb] = await Promise.all([a, b]);
    expect(ra.every((r) => r.status === 204)).toBe(true);
    const seen = rb.map((r) => (r.json() as { n?: number }).n ?? -1);
    expect([...seen].sort((x, y) => x - y)).toEqual(seen);
  });
});
