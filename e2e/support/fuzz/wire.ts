import http from 'node:http';
import net from 'node:net';
import type { FuzzRequest } from './fuzz-request.js';
import { frame } from './raw-framing.js';

/** What came back for one request; `error` instead when no answer came. */
export interface WireAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Buffer;
}

export type WireOutcome = { readonly answer: WireAnswer } | { readonly error: string };

/**
 * Sends fuzz requests to one server, each on a connection of its own: an answer then belongs to
 * its request even when an earlier one left its connection in a state no client should reuse.
 */
export interface Wire {
  send(request: FuzzRequest): Promise<WireOutcome>;
  close(): void;
}

const answerTimeoutMs = 20_000;
const largeBodyBytes = 64 * 1024;

export function createWire(baseUrl: string): Wire {
  const url = new URL(baseUrl);
  const agent = new http.Agent({ keepAlive: false });
  return {
    send: (request) =>
      request.raw !== undefined
        ? sendRaw(url, request.raw)
        : // A server may answer a body it will not read before it is sent, and close: the answer is read off the socket.
          (request.body?.length ?? 0) > largeBodyBytes
          ? sendRaw(url, frame('content-length', request.method, request.target, request.headers, request.body))
          : sendHttp(url, agent, request),
    close: () => agent.destroy(),
  };
}

function sendHttp(url: URL, agent: http.Agent, request: FuzzRequest): Promise<WireOutcome> {
  return new Promise((resolve) => {
    const headers: string[] = [];
    const hosts = request.host === 'server' ? [url.host] : request.host === 'none' ? [] : request.host;
    for (const value of hosts) headers.push('host', value);
    for (const [name, value] of request.headers) headers.push(name, value);
    if (request.body !== undefined) headers.push('content-length', String(request.body.length));
    let outgoing: http.ClientRequest;
    try {
      outgoing = http.request({
        agent,
        host: url.hostname,
        port: url.port,
        method: request.method,
        path: request.target,
        headers,
        timeout: answerTimeoutMs,
      });
    } catch (error) {
      // Node's client refused to send it (a byte it will not put in a path or header): not the server's doing.
      resolve({ answer: { status: 0, headers: { 'x-fuzz-unsendable': String(error) }, body: Buffer.alloc(0) } });
      return;
    }
    outgoing.once('timeout', () => outgoing.destroy(new Error(`no answer within ${answerTimeoutMs} ms`)));
    outgoing.once('error', (error) => resolve({ error: String(error) }));
    outgoing.once('response', (response) => {
      const chunks: Buffer[] = [];
      const done = (): void =>
        resolve({ answer: { status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) } });
      if (String(response.headers['content-type'] ?? '').startsWith('text/event-stream')) {
        // A live stream never ends: its status and headers are the answer.
        response.destroy();
        done();
        return;
      }
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.once('end', done);
      response.once('error', (error) => resolve({ error: `answer cut off: ${String(error)}` }));
    });
    outgoing.end(request.body);
  });
}

function sendRaw(url: URL, bytes: Buffer): Promise<WireOutcome> {
  return new Promise((resolve) => {
    const socket = net.connect(Number(url.port), url.hostname);
    const chunks: Buffer[] = [];
    let isTimedOut = false;
    const timer = setTimeout(() => {
      isTimedOut = true;
      socket.destroy();
    }, answerTimeoutMs);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      // A live stream never ends: its status line and headers are the answer.
      if (/\r\ncontent-type: text\/event-stream/i.test(Buffer.concat(chunks).toString('latin1'))) socket.destroy();
    });
    let socketError: unknown;
    socket.once('error', (error) => (socketError = error));
    socket.once('close', () => {
      clearTimeout(timer);
      const parsed = parseResponse(Buffer.concat(chunks));
      const why = isTimedOut ? `no answer within ${answerTimeoutMs} ms` : `closed (${String(socketError ?? 'no error')})`;
      resolve(parsed === undefined ? { error: `${why} without an answer (${chunks.length} chunks)` } : { answer: parsed });
    });
    // Not half-closed after writing: Node's server drops a request whose client has ended its side.
    // The server may answer and close before it has read everything: that is its right.
    socket.write(bytes);
  });
}

/** The first HTTP/1.1 response in `data`: status line, headers, and a Content-Length or chunked body. */
export function parseResponse(data: Buffer): WireAnswer | undefined {
  // Interim answers (100 Continue) come first: the final one follows.
  while (/^HTTP\/1\.[01] 1\d\d /.test(data.subarray(0, 16).toString('latin1'))) {
    const end = data.indexOf('\r\n\r\n');
    if (end < 0) return undefined;
    data = data.subarray(end + 4);
  }
  const headEnd = data.indexOf('\r\n\r\n');
  if (headEnd < 0) return undefined;
  const [statusLine, ...lines] = data.subarray(0, headEnd).toString('latin1').split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '');
  if (status === null) return undefined;
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = data.subarray(headEnd + 4);
  if (headers['content-length'] !== undefined) body = body.subarray(0, Number(headers['content-length']));
  else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) body = unchunk(body);
  return { status: Number(status[1]), headers, body };
}

function unchunk(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  let offset = 0;
  for (;;) {
    const lineEnd = data.indexOf('\r\n', offset);
    if (lineEnd < 0) break;
    const size = parseInt(data.subarray(offset, lineEnd).toString('latin1'), 16);
    if (!Number.isFinite(size) || size === 0) break;
    parts.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
    offset = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(parts);
}
