import { describe, expect, it } from 'vitest';
import { attachConsole, bearerSubprotocol, closingReasonOf, consoleAttachUrl, consoleSubprotocol } from './console-socket.js';

/** A WebSocket the test drives: it records what was sent and fires the events a browser's would. */
class ScriptedSocket extends EventTarget {
  binaryType = 'blob';
  protocol = '';
  readyState = 0;
  readonly sent: unknown[] = [];
  isCloseCalled = false;
  constructor(
    readonly url: string,
    readonly protocols: string[],
  ) {
    super();
  }
  send(data: unknown): void {
    this.sent.push(data);
  }
  close(): void {
    this.isCloseCalled = true;
    this.finish(1000, '');
  }
  accept(protocol: string): void {
    this.protocol = protocol;
    this.readyState = 1;
    this.dispatchEvent(new Event('open'));
  }
  receive(data: ArrayBuffer | string): void {
    this.dispatchEvent(new MessageEvent('message', { data }));
  }
  finish(code: number, reason: string): void {
    this.readyState = 3;
    const event = Object.assign(new Event('close'), { code, reason });
    this.dispatchEvent(event);
  }
}

function attach() {
  let socket: ScriptedSocket | undefined;
  const seen = { opened: 0, output: [] as string[], closed: [] as { reason: string; wasOpen: boolean }[] };
  const connection = attachConsole(
    {
      baseUrl: 'https://manager.example:8443',
      vmId: 'vm_01JABCDEFGHJKMNPQRSTVWXYZ0',
      token: 'hth_secret',
      backlogBytes: 4096,
      createSocket: (url, protocols) => {
        socket = new ScriptedSocket(url, protocols);
        return socket as unknown as WebSocket;
      },
    },
    {
      onOpen: () => (seen.opened += 1),
      onOutput: (bytes) => seen.output.push(new TextDecoder().decode(bytes)),
      onClosed: (closed) => seen.closed.push(closed),
    },
  );
  return { socket: socket!, seen, connection };
}

describe('the serial console socket', () => {
  it('attaches over wss for an https Manager, asking for recent output first', () => {
    expect(consoleAttachUrl('http://127.0.0.1:8080', 'vm_X', 1024)).toBe(
      'ws://127.0.0.1:8080/v1/vms/vm_X/console/attach?backlog=1024',
    );
    expect(consoleAttachUrl('https://m.example', 'vm_X')).toBe('wss://m.example/v1/vms/vm_X/console/attach');
  });

  it('carries the token as a base64url subprotocol without padding, after the console protocol', () => {
    expect(bearerSubprotocol('hth_secret')).toBe('hearth.bearer.aHRoX3NlY3JldA');
    expect(bearerSubprotocol('??>')).toBe('hearth.bearer.Pz8-');
    const { socket } = attach();
    expect(socket.protocols).toEqual([consoleSubprotocol, 'hearth.bearer.aHRoX3NlY3JldA']);
    expect(socket.binaryType).toBe('arraybuffer');
  });

  it('passes output through and sends input as binary frames once open', () => {
    const { socket, seen, connection } = attach();
    connection.send('ignored before open');
    socket.accept(consoleSubprotocol);
    socket.receive(new TextEncoder().encode('login: ').buffer);
    connection.send('root\r');
    expect(seen.opened).toBe(1);
    expect(seen.output).toEqual(['login: ']);
    expect(socket.sent).toHaveLength(1);
    expect(new TextDecoder().decode(socket.sent[0] as Uint8Array)).toBe('root\r');
  });

  it('reports the Manager’s closing reason once', () => {
    const { socket, seen } = attach();
    socket.accept(consoleSubprotocol);
    socket.receive(JSON.stringify({ type: 'closed', reason: 'vm stopped' }));
    socket.finish(1000, '');
    socket.finish(1000, '');
    expect(seen.closed).toEqual([{ reason: 'vm stopped', wasOpen: true }]);
  });

  it('reports a failed attach as never open, so that the page falls back to the log', () => {
    const { socket, seen } = attach();
    socket.finish(1006, '');
    expect(seen.opened).toBe(0);
    expect(seen.closed).toEqual([{ reason: 'connection closed (1006)', wasOpen: false }]);
  });

  it('refuses a server that chose another subprotocol', () => {
    const { socket, seen } = attach();
    socket.accept('something.else');
    expect(socket.isCloseCalled).toBe(true);
    expect(seen.opened).toBe(0);
    expect(seen.closed[0]).toEqual({ reason: 'the Manager chose the subprotocol "something.else"', wasOpen: false });
  });

  it('reads only the closing control frame as one', () => {
    expect(closingReasonOf('{"type":"closed","reason":"bye"}')).toBe('bye');
    expect(closingReasonOf('{"type":"other"}')).toBeUndefined();
    expect(closingReasonOf('not json')).toBeUndefined();
    expect(closingReasonOf('null')).toBeUndefined();
  });
});
