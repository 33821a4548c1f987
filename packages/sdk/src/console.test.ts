import { describe, expect, it } from 'vitest';
import { createApiClient } from './api-client.js';
import {
  attachConsole,
  bearerSubprotocol,
  consoleAttachUrl,
  consoleSubprotocol,
  describeConsoleEnd,
  type ConsoleClosed,
  type ConsoleWebSocket,
} from './console.js';
import { isHearthError } from './hearth-error.js';

/** A WebSocket the test drives: it records what was sent and fires the events a browser's would. */
class ScriptedSocket implements ConsoleWebSocket {
  /** Every socket made, newest last. */
  static readonly made: ScriptedSocket[] = [];
  binaryType = 'blob';
  protocol = '';
  readyState = 0;
  readonly sent: Uint8Array[] = [];
  closedWith: number | undefined;
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { readonly data: unknown }) => void) | null = null;
  onclose: ((event: { readonly code: number; readonly reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;

  constructor(
    readonly url: string,
    readonly protocols: string[],
  ) {
    ScriptedSocket.made.push(this);
  }
  send(data: Uint8Array): void {
    this.sent.push(data);
  }
  close(code?: number): void {
    this.closedWith = code;
    this.finish(code ?? 1005, '');
  }
  accept(protocol = consoleSubprotocol): void {
    this.protocol = protocol;
    this.readyState = 1;
    this.onopen?.({});
  }
  receive(data: ArrayBuffer | string): void {
    this.onmessage?.({ data });
  }
  finish(code: number, reason: string): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
}

/** Where the refusal's plain GET goes: a problem the Manager would answer. */
function managerAnswering(status: number, problem: Record<string, unknown>) {
  const requested: string[] = [];
  const api = createApiClient('https://manager.example:8443', async (request: Request) => {
    requested.push(`${request.method} ${new URL(request.url).pathname}`);
    return new Response(JSON.stringify({ type: 'about:blank', title: 'Refused', status, correlationId: 'req-1', ...problem }), {
      status,
      headers: { 'content-type': 'application/problem+json' },
    });
  });
  return { requested, target: { baseUrl: 'https://manager.example:8443', token: 'hth_secret', api, webSocket: ScriptedSocket } };
}

/** The socket the next attach makes, once the SDK has made it. */
async function nextSocket(before: number): Promise<ScriptedSocket> {
  while (ScriptedSocket.made.length === before) await Promise.resolve();
  return ScriptedSocket.made.at(-1)!;
}

/** Starts an attach and hands back its socket. */
async function attaching(options: { backlogBytes?: number; signal?: AbortSignal } = {}) {
  const before = ScriptedSocket.made.length;
  const manager = managerAnswering(409, { code: 'VMM_NOT_RUNNING', detail: 'The VM is not running' });
  const pending = attachConsole(manager.target, 'vm_01JABCDEFGHJKMNPQRSTVWXYZ0', options);
  pending.catch(() => undefined);
  return { socket: await nextSocket(before), pending, requested: manager.requested };
}

const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

describe('attachConsole', () => {
  it('attaches over wss for an https Manager, asking for the backlog', () => {
    expect(consoleAttachUrl('http://127.0.0.1:8080/', 'vm_X', 1024)).toBe(
      'ws://127.0.0.1:8080/v1/vms/vm_X/console/attach?backlog=1024',
    );
    expect(consoleAttachUrl('https://m.example', 'vm_X')).toBe('wss://m.example/v1/vms/vm_X/console/attach');
  });

  it('carries the token as a base64url subprotocol without padding, after the console protocol', async () => {
    expect(bearerSubprotocol('hth_secret')).toBe('hearth.bearer.aHRoX3NlY3JldA');
    expect(bearerSubprotocol('??>')).toBe('hearth.bearer.Pz8-');
    const { socket } = await attaching({ backlogBytes: 4096 });
    expect(socket.url).toBe('wss://manager.example:8443/v1/vms/vm_01JABCDEFGHJKMNPQRSTVWXYZ0/console/attach?backlog=4096');
    expect(socket.protocols).toEqual([consoleSubprotocol, 'hearth.bearer.aHRoX3NlY3JldA']);
    expect(socket.binaryType).toBe('arraybuffer');
  });

  it('hands over output that came before a listener, then live output, and sends input as binary frames', async () => {
    const { socket, pending } = await attaching();
    socket.accept();
    socket.receive(new TextEncoder().encode('backlog ').buffer);
    const session = await pending;
    const seen: string[] = [];
    session.onData((bytes) => seen.push(text(bytes)));
    socket.receive(new TextEncoder().encode('login: ').buffer);
    session.write('root\r');
    session.write(new Uint8Array([0x03]));
    expect(seen).toEqual(['backlog ', 'login: ']);
    expect(socket.sent.map(text)).toEqual(['root\r', '\x03']);
  });

  it('says the Manager’s reason from its closing text frame', async () => {
    const { socket, pending } = await attaching();
    socket.accept();
    const session = await pending;
    socket.receive('{"type":"closed","reason":"vm_stopped"}');
    socket.finish(1000, 'vm_stopped');
    session.write('too late');
    expect(await session.closed).toEqual({ reason: 'vm_stopped', code: 1000, closeReason: 'vm_stopped' });
    expect(socket.sent).toEqual([]);
  });

  it.each([
    [1008, 'idle_timeout', 'idle_timeout'],
    [1008, 'max_duration', 'max_duration'],
    [1011, 'agent_connection_lost', 'agent_connection_lost'],
    [1009, '', 'input_too_large'],
    [1001, 'shutting_down', 'shutting_down'],
    [1006, '', 'connection_lost'],
    [1008, 'something new', 'connection_lost'],
  ] as const)('reads close code %i %j without a text frame as %s', async (code, closeReason, reason) => {
    const { socket, pending } = await attaching();
    socket.accept();
    const session = await pending;
    socket.receive('{"type":"other"}');
    socket.finish(code, closeReason);
    expect(await session.closed).toEqual({ reason, code, closeReason });
  });

  it('says detached when this client closed', async () => {
    const { socket, pending } = await attaching();
    socket.accept();
    const session = await pending;
    session.close();
    expect(socket.closedWith).toBe(1000);
    expect((await session.closed).reason).toBe('detached');
  });

  it('rejects a refused upgrade with the problem the same request answers as a plain GET', async () => {
    const { socket, pending, requested } = await attaching();
    socket.onerror?.({});
    socket.finish(1006, '');
    const refusal: unknown = await pending.catch((error: unknown) => error);
    expect(isHearthError(refusal, 'VMM_NOT_RUNNING')).toBe(true);
    expect(refusal).toMatchObject({ status: 409, correlationId: 'req-1', message: 'The VM is not running' });
    expect(requested).toEqual(['GET /v1/vms/vm_01JABCDEFGHJKMNPQRSTVWXYZ0/console/attach']);
  });

  it('does not blame the Manager when it would have accepted the upgrade', async () => {
    const before = ScriptedSocket.made.length;
    const manager = managerAnswering(400, { code: 'WEBSOCKET_REQUIRED' });
    const pending = attachConsole(manager.target, 'vm_X');
    (await nextSocket(before)).finish(1006, '');
    await expect(pending).rejects.toMatchObject({ code: 'UNEXPECTED_RESPONSE', message: /proxy or the network/ });
  });

  it('refuses a server that chose another subprotocol, and closes its socket', async () => {
    const { socket, pending } = await attaching();
    socket.accept('something.else');
    await expect(pending).rejects.toMatchObject({ code: 'UNEXPECTED_RESPONSE', message: /"something\.else"/ });
    expect(socket.closedWith).toBe(1000);
  });

  it('gives up a pending attach when its signal aborts, and detaches an open one', async () => {
    const early = new AbortController();
    const first = await attaching({ signal: early.signal });
    early.abort(new Error('gave up'));
    await expect(first.pending).rejects.toThrow('gave up');
    expect(first.socket.closedWith).toBe(1000);

    const later = new AbortController();
    const second = await attaching({ signal: later.signal });
    second.socket.accept();
    const session = await second.pending;
    later.abort();
    expect((await session.closed).reason).toBe('detached');
  });

  it('words every way a session ends', () => {
    const closed = (reason: ConsoleClosed['reason'], code = 1000, closeReason = ''): ConsoleClosed => ({
      reason,
      code,
      closeReason,
    });
    expect(describeConsoleEnd(closed('vm_stopped'))).toBe('the VM stopped');
    expect(describeConsoleEnd(closed('connection_lost', 1006))).toBe('the connection was lost (code 1006)');
    expect(describeConsoleEnd(closed('connection_lost', 4000, 'odd'))).toBe('the connection was lost (code 4000, odd)');
  });
});
