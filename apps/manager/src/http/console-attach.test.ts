import { connect, type AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { HttpServer } from '@hearth/http-server';
import type { Host } from '../domain/host.js';
import type { VmId } from '../domain/ids.js';
import { defaultConsoleSessionLimits, type ConsoleSessionLimits } from './console-bridge.js';
import { buildTestApp } from '../testing/test-app.js';
import { createWorld, testAdminSecret, type World } from '../testing/world.js';

let world: World;
let app: HttpServer;
let host: Host;
let baseUrl: string;
const sockets: WebSocket[] = [];

async function start(limits: Partial<ConsoleSessionLimits> = {}): Promise<void> {
  world = createWorld();
  app = await buildTestApp(world.deps, { consoleSessions: { ...defaultConsoleSessionLimits, ...limits } });
  await app.listen({ host: '127.0.0.1', port: 0 });
  baseUrl = `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  host = await world.addHost();
}

beforeEach(async () => {
  await start();
});

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.terminate();
  await app.close();
});

async function runningVm(name = 'web-1'): Promise<VmId> {
  const { kernel, rootfs } = await world.addImages();
  const created = await app.inject({
    method: 'POST',
    url: '/v1/vms',
    payload: { name, vcpuCount: 1, memoryMib: 256, kernelImageId: kernel.id, rootfsImageId: rootfs.id },
  });
  return created.json<{ id: VmId }>().id;
}

interface Attached {
  readonly socket: WebSocket;
  /** Binary output received so far. */
  output(): string;
  /** Resolves once the output holds `text`. */
  until(text: string): Promise<void>;
  /** Resolves with the text frames and the close code once the server closed. */
  closed: Promise<{ readonly texts: string[]; readonly code: number; readonly reason: string }>;
}

/** Attaches and resolves once open, or rejects with the HTTP status and body of the refusal. */
function attach(
  vmId: string,
  options: { headers?: Record<string, string>; protocols?: string[]; query?: string } = {},
): Promise<Attached> {
  const headers = options.headers ?? { authorization: `Bearer ${testAdminSecret}` };
  const socket = new WebSocket(`${baseUrl}/v1/vms/${vmId}/console/attach${options.query ?? ''}`, options.protocols ?? [], {
    headers,
  });
  sockets.push(socket);
  let received = '';
  const texts: string[] = [];
  const waiters: (() => void)[] = [];
  socket.on('message', (data, isBinary) => {
    const text = Buffer.from(data as Buffer).toString('latin1');
    if (isBinary) received += text;
    else texts.push(text);
    for (const wake of waiters.splice(0)) wake();
  });
  const closed = new Promise<{ texts: string[]; code: number; reason: string }>((resolve) =>
    socket.once('close', (code, reason) => resolve({ texts, code, reason: reason.toString() })),
  );
  return new Promise((resolve, reject) => {
    socket.once('open', () =>
      resolve({
        socket,
        output: () => received,
        until: (text) =>
          new Promise<void>((done) => {
            const check = (): void => (received.includes(text) ? done() : void waiters.push(check));
            check();
          }),
        closed,
      }),
    );
    socket.once('unexpected-response', (_request, response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () =>
        reject(
          Object.assign(new Error(`refused ${response.statusCode}`), {
            status: response.statusCode,
            body: JSON.parse(body) as { code: string },
          }),
        ),
      );
    });
    socket.once('error', (error) => reject(error));
  });
}

async function refusalOf(promise: Promise<unknown>): Promise<{ status: number; code: string }> {
  try {
    await promise;
  } catch (error) {
    const refused = error as { status?: number; body?: { code: string } };
    if (refused.status !== undefined && refused.body !== undefined) return { status: refused.status, code: refused.body.code };
    throw error;
  }
  throw new Error('the attach was not refused');
}

describe('GET /v1/vms/{id}/console/attach', () => {
  it('sends the backlog, then live output, and types what the client sends into the guest', async () => {
    const vmId = await runningVm();
    world.agents.printOnConsole(host.addr, vmId, 'boot\r\nweb-1 login: ');

    const console = await attach(vmId, { query: '?backlog=13' });
    await console.until('web-1 login: ');
    console.socket.send(Buffer.from('root\r'));
    const connection = world.agents.consoleConnections[0]!;
    await expect.poll(() => connection.typed).toBe('root\r');
    connection.print('root@web-1:~# ');
    await console.until('root@web-1:~# ');

    expect(console.output()).toBe('web-1 login: root@web-1:~# ');
  });

  it('accepts the token as a subprotocol, selects hearth.console.v1 and never echoes the token', async () => {
    const vmId = await runningVm();
    const encoded = Buffer.from(testAdminSecret).toString('base64url');

    const console = await attach(vmId, { headers: {}, protocols: ['hearth.console.v1', `hearth.bearer.${encoded}`] });

    expect(console.socket.protocol).toBe('hearth.console.v1');
  });

  it('refuses a missing token with 401, a token without vms:write with 403, and records both', async () => {
    const vmId = await runningVm();
    const reader = await world.mintToken({ name: 'reader', scopes: ['vms:read'] });

    expect(await refusalOf(attach(vmId, { headers: {} }))).toEqual({ status: 401, code: 'UNAUTHENTICATED' });
    expect(await refusalOf(attach(vmId, { headers: { authorization: `Bearer ${reader}` } }))).toEqual({
      status: 403,
      code: 'SCOPE_MISSING',
    });
    const attaches = world.repos.audit.entries.filter((entry) => entry.action === 'GET /v1/vms/:id/console/attach');
    expect(attaches.map((entry) => entry.statusCode)).toEqual([401, 403]);
  });

  it('refuses a token given both as a header and as a subprotocol', async () => {
    const vmId = await runningVm();
    const encoded = Buffer.from(testAdminSecret).toString('base64url');

    const refusal = await refusalOf(attach(vmId, { protocols: ['hearth.console.v1', `hearth.bearer.${encoded}`] }));

    expect(refusal).toEqual({ status: 401, code: 'UNAUTHENTICATED' });
  });

  it("answers another project's VM with 404 before the upgrade", async () => {
    const vmId = await runningVm();
    await app.inject({ method: 'POST', url: '/v1/projects', payload: { name: 'team-b' } });
    const other = await world.mintToken({ name: 'team-b', scopes: ['vms:write'], projects: ['team-b'] });

    const refusal = await refusalOf(attach(vmId, { headers: { authorization: `Bearer ${other}` } }));

    expect(refusal).toEqual({ status: 404, code: 'VM_NOT_FOUND' });
    expect(world.agents.consoleConnections).toEqual([]);
  });

  it('answers a VM that is not running with 409 VMM_NOT_RUNNING', async () => {
    const vmId = await runningVm();
    await app.inject({ method: 'POST', url: `/v1/vms/${vmId}/stop` });

    expect(await refusalOf(attach(vmId))).toEqual({ status: 409, code: 'VMM_NOT_RUNNING' });
  });

  it('answers a plain GET with 400 WEBSOCKET_REQUIRED', async () => {
    const vmId = await runningVm();

    const response = await app.inject({ method: 'GET', url: `/v1/vms/${vmId}/console/attach` });

    expect(response.statusCode).toBe(400);
    expect(response.json<{ code: string }>().code).toBe('WEBSOCKET_REQUIRED');
  });

  it('answers an upgrade request to any other route with a problem, not a bare handshake error', async () => {
    await runningVm();
    const port = (app.server.address() as AddressInfo).port;
    for (const key of ['', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n']) {
      // A raw request: Node's HTTP client takes any answer to an upgrade request for a hang-up.
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1', () =>
          socket.write(
            `GET /v1/vms HTTP/1.1\r\nHost: hearth\r\nAuthorization: Bearer ${testAdminSecret}\r\n` +
              `Connection: Upgrade\r\nUpgrade: websocket\r\n${key}\r\n`,
          ),
        );
        let received = '';
        socket.setEncoding('utf8');
        socket.on('data', (chunk: string) => (received += chunk));
        socket.once('close', () => resolve(received));
        socket.once('error', reject);
      });
      const [head = '', body = ''] = answer.split('\r\n\r\n');

      expect(head).toMatch(/^HTTP\/1\.1 400 /);
      expect(head).toMatch(/^content-type: application\/problem\+json/im);
      expect(JSON.parse(body)).toMatchObject({ code: 'MALFORMED_REQUEST', status: 400 });
    }
  });

  it('passes the Agent reason on in one closed frame, then closes', async () => {
    const vmId = await runningVm();
    const console = await attach(vmId);

    world.agents.consoleConnections[0]!.end('vm_stopped');

    expect(await console.closed).toEqual({
      texts: ['{"type":"closed","reason":"vm_stopped"}'],
      code: 1000,
      reason: 'vm_stopped',
    });
  });

  it('records the attach in the audit log: who and which VM, never the bytes', async () => {
    const vmId = await runningVm();
    const console = await attach(vmId);
    console.socket.send(Buffer.from('secret input\r'));

    await expect.poll(() => world.repos.audit.entries.filter((entry) => entry.statusCode === 101).length).toBe(1);
    const entry = world.repos.audit.entries.find((e) => e.statusCode === 101)!;

    expect(entry).toMatchObject({
      action: 'GET /v1/vms/:id/console/attach',
      target: vmId,
      project: 'default',
      outcome: 'succeeded',
    });
    expect(JSON.stringify(world.repos.audit.entries)).not.toContain('secret input');
  });
});

describe('console session caps', () => {
  it('refuses a token more sessions than its cap with 429, and frees the slot when one closes', async () => {
    await app.close();
    await start({ perClient: 1 });
    const vmId = await runningVm();
    const first = await attach(vmId);

    expect(await refusalOf(attach(vmId))).toEqual({ status: 429, code: 'CONSOLE_LIMIT_REACHED' });
    first.socket.close();
    await first.closed;
    await expect
      .poll(
        async () =>
          await attach(vmId).then(
            () => 'open',
            () => 'refused',
          ),
      )
      .toBe('open');
  });

  it('closes a session that carries no byte for a whole idle period with 1008 idle_timeout', async () => {
    await app.close();
    await start({ idleTimeoutMs: 50 });
    const vmId = await runningVm();
    const console = await attach(vmId);

    expect(await console.closed).toMatchObject({ code: 1008, reason: 'idle_timeout' });
    expect(world.agents.consoleConnections[0]!.isClosed).toBe(true);
  });
});
