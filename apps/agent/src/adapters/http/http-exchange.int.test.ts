import { Agent, createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '@hearth/testkit';
import { HttpFirecrackerApi } from '../firecracker/http-firecracker-api.js';
import { exchange } from './http-exchange.js';

interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

/** An HTTP server on a Unix socket that records what it is sent. */
interface SocketServer {
  readonly socketPath: string;
  readonly seen: SeenRequest[];
  /** Connections accepted so far, and how many of them are still open. */
  readonly connections: { accepted: number; open: number };
}

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function socketServer(answer: (request: SeenRequest, res: ServerResponse) => void): Promise<SocketServer> {
  const directory = await mkdtemp(path.join(tmpdir(), 'hearth-http-exchange-'));
  const socketPath = path.join(directory, 'api.sock');
  const state: SocketServer = { socketPath, seen: [], connections: { accepted: 0, open: 0 } };
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const seen = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString() };
      state.seen.push(seen);
      answer(seen, res);
    });
  });
  server.on('connection', (socket: Socket) => {
    state.connections.accepted += 1;
    state.connections.open += 1;
    sockets.add(socket);
    socket.on('close', () => {
      state.connections.open -= 1;
      sockets.delete(socket);
    });
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  cleanups.push(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
    await rm(directory, { recursive: true, force: true });
  });
  return state;
}

function plainAgent(): Agent {
  const agent = new Agent({ keepAlive: true });
  cleanups.push(() => Promise.resolve(agent.destroy()));
  return agent;
}

describe('exchange', () => {
  it('sends a PUT without a body with Content-Length 0, never chunked', async () => {
    const server = await socketServer((_request, res) => res.writeHead(204).end());

    const answer = await exchange(
      { protocol: 'http:', host: 'localhost', socketPath: server.socketPath, agent: plainAgent() },
      { method: 'PUT', path: '/actions', headers: {}, timeoutMs: 5_000 },
    );

    expect(answer.statusCode).toBe(204);
    expect(server.seen[0]?.headers['content-length']).toBe('0');
    expect(server.seen[0]?.headers['transfer-encoding']).toBeUndefined();
  });

  it('sends a body with its length and answers the whole body with status and headers', async () => {
    const server = await socketServer((request, res) =>
      res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ echoed: request.body })),
    );

    const answer = await exchange(
      { protocol: 'http:', host: 'localhost', socketPath: server.socketPath, agent: plainAgent() },
      {
        method: 'PATCH',
        path: '/vm',
        headers: { 'content-type': 'application/json' },
        body: Buffer.from('{"state":"Paused"}'),
        timeoutMs: 5_000,
      },
    );

    expect(server.seen[0]).toMatchObject({ method: 'PATCH', url: '/vm', body: '{"state":"Paused"}' });
    expect(server.seen[0]?.headers['content-length']).toBe('18');
    expect(answer.statusCode).toBe(400);
    expect(answer.headers['content-type']).toBe('application/json');
    expect(JSON.parse(answer.body.toString())).toEqual({ echoed: '{"state":"Paused"}' });
  });

  it('rejects when no answer comes within the timeout', async () => {
    const server = await socketServer(() => undefined);

    await expect(
      exchange(
        { protocol: 'http:', host: 'localhost', socketPath: server.socketPath, agent: plainAgent() },
        { method: 'GET', path: '/', headers: {}, timeoutMs: 50 },
      ),
    ).rejects.toThrow(/no answer for 50 ms/);
  });

  it('rejects when the connection closes before the body is complete', async () => {
    const server = await socketServer((_request, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('only part of it');
      setImmediate(() => res.socket?.destroy());
    });

    await expect(
      exchange(
        { protocol: 'http:', host: 'localhost', socketPath: server.socketPath, agent: plainAgent() },
        { method: 'GET', path: '/', headers: {}, timeoutMs: 5_000 },
      ),
    ).rejects.toThrow();
  });
});

describe('HttpFirecrackerApi connections', () => {
  it('keeps one connection per VMM socket through a burst of calls, and closes it on release', async () => {
    const server = await socketServer((_request, res) => res.writeHead(204).end());
    const api = new HttpFirecrackerApi({ requestTimeoutMs: 5_000 });
    cleanups.push(() => api.close());

    const client = api.client(server.socketPath);
    await client.putMachineConfig({ vcpuCount: 1, memoryMib: 128 });
    await api.client(server.socketPath).putBootSource({ kernelImagePath: '/k', bootArgs: 'console=ttyS0' });
    await client.startInstance();

    expect(server.seen.map((request) => `${request.method} ${request.url}`)).toEqual([
      'PUT /machine-config',
      'PUT /boot-source',
      'PUT /actions',
    ]);
    expect(server.connections).toEqual({ accepted: 1, open: 1 });

    await api.release(server.socketPath);

    // Sooner than the 2 s after which an idle connection closes by itself.
    await waitFor(() => server.connections.open === 0, { timeoutMs: 1_500, description: 'the released connection closes' });
  });

  it('sends calls to one VMM one at a time, in order', async () => {
    const server = await socketServer((_request, res) => setImmediate(() => res.writeHead(204).end()));
    const api = new HttpFirecrackerApi({ requestTimeoutMs: 5_000 });
    cleanups.push(() => api.close());

    const client = api.client(server.socketPath);
    await Promise.all([client.pauseVm(), client.resumeVm(), client.flushMetrics()]);

    expect(server.seen.map((request) => request.body)).toEqual([
      '{"state":"Paused"}',
      '{"state":"Resumed"}',
      '{"action_type":"FlushMetrics"}',
    ]);
    expect(server.connections.accepted).toBe(1);
  });
});
