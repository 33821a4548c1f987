import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { Hearth } from './hearth.js';
import { isHearthError } from './hearth-error.js';

/**
 * The console client over a real WebSocket on loopback, with the WebSocket class this Node.js offers
 * (the `ws` package on Node 20, the global one on 22+): a server that speaks the Manager's frames.
 */
describe('attachConsole over a real WebSocket', () => {
  let server: Server;
  let sockets: WebSocketServer;
  let baseUrl: string;
  const seenProtocols: string[][] = [];

  beforeAll(async () => {
    server = createServer((request, response) => {
      // A refused upgrade's plain GET: the problem the Manager would answer.
      response.writeHead(409, { 'content-type': 'application/problem+json', 'x-request-id': 'req-9' });
      response.end(
        JSON.stringify({
          type: 'about:blank',
          title: 'Not running',
          status: 409,
          code: 'VMM_NOT_RUNNING',
          correlationId: 'req-9',
        }),
      );
    });
    sockets = new WebSocketServer({
      server,
      handleProtocols: (protocols) => (protocols.has('hearth.console.v1') ? 'hearth.console.v1' : false),
      verifyClient: ({ req }, done) => done(!(req.url ?? '').includes('vm_stopped_one'), 409),
    });
    sockets.on('connection', (socket, request) => {
      seenProtocols.push(String(request.headers['sec-websocket-protocol']).split(/,\s*/));
      socket.send(Buffer.from(`backlog ${new URL(request.url ?? '', 'http://x').searchParams.get('backlog')}\n`));
      socket.on('message', (data: Buffer) => {
        if (data.toString() === 'exit\r') {
          socket.send(JSON.stringify({ type: 'closed', reason: 'vm_stopped' }));
          socket.close(1000, 'vm_stopped');
          return;
        }
        socket.send(Buffer.from(data.toString().toUpperCase()));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    for (const client of sockets.clients) client.terminate();
    await new Promise((resolve) => sockets.close(resolve));
    await new Promise((resolve) => server.close(resolve));
  });

  it('sends the token as a subprotocol, passes bytes both ways and says why the server closed', async () => {
    const hearth = new Hearth({ baseUrl, token: 'hth_secret' });
    const session = await hearth.vms.attachConsole('vm_one', { backlogBytes: 512 });
    let output = '';
    const echoed = new Promise<void>((resolve) =>
      session.onData((bytes) => {
        output += new TextDecoder().decode(bytes);
        if (output.includes('HELLO')) resolve();
      }),
    );
    session.write('hello');
    await echoed;
    session.write('exit\r');

    expect(await session.closed).toEqual({ reason: 'vm_stopped', code: 1000, closeReason: 'vm_stopped' });
    expect(output).toBe('backlog 512\nHELLO');
    expect(seenProtocols.at(-1)).toEqual(['hearth.console.v1', 'hearth.bearer.aHRoX3NlY3JldA']);
  });

  it('rejects a refused upgrade with the Manager’s problem', async () => {
    const hearth = new Hearth({ baseUrl, token: 'hth_secret', retries: 0 });
    const refusal: unknown = await hearth.vms.attachConsole('vm_stopped_one').catch((error: unknown) => error);
    expect(isHearthError(refusal, 'VMM_NOT_RUNNING')).toBe(true);
    expect(refusal).toMatchObject({ status: 409, correlationId: 'req-9' });
  });
});
