import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import { FakeConsoleConnection } from '../adapters/fake/fake-agent-client.js';
import { ManualTimers } from '../adapters/fake/manual-timers.js';
import type { VmId } from '../domain/ids.js';
import { bridgeConsole, defaultConsoleSessionLimits } from './console-bridge.js';

/** The part of a ws WebSocket the bridge uses, with a send buffer the test controls. */
class FakeClientSocket extends EventEmitter {
  readonly OPEN = 1;
  readyState = 1;
  bufferedAmount = 0;
  readonly binary: string[] = [];
  readonly texts: string[] = [];
  closedWith: { code: number; reason: string } | undefined;

  send(data: Uint8Array | string): void {
    if (typeof data === 'string') this.texts.push(data);
    else this.binary.push(Buffer.from(data).toString('latin1'));
  }

  close(code: number, reason: string): void {
    this.closedWith = { code, reason };
    this.readyState = 3;
  }
}

function bridged(): { socket: FakeClientSocket; connection: FakeConsoleConnection; ended: () => number } {
  const socket = new FakeClientSocket();
  const connection = new FakeConsoleConnection('vm_1' as VmId, '');
  let ends = 0;
  bridgeConsole(socket as unknown as WebSocket, connection, {
    timers: new ManualTimers(),
    limits: { ...defaultConsoleSessionLimits, maxBufferedBytes: 100 },
    onEnd: () => (ends += 1),
  });
  return { socket, connection, ended: () => ends };
}

describe('bridgeConsole', () => {
  it('drops a client that leaves more output unread than allowed, with too_slow, instead of buffering it', () => {
    const { socket, connection, ended } = bridged();
    connection.print('x'.repeat(60));
    socket.bufferedAmount = 60;

    connection.print('y'.repeat(60));

    expect(socket.binary).toEqual(['x'.repeat(60)]);
    expect(socket.texts).toEqual(['{"type":"closed","reason":"too_slow"}']);
    expect(socket.closedWith).toEqual({ code: 1000, reason: 'too_slow' });
    expect(connection.isClosed).toBe(true);
    expect(ended()).toBe(1);
  });

  it('closes with 1011 and no closed frame when the Agent connection drops without a reason', () => {
    const { socket, connection, ended } = bridged();

    connection.end(undefined);

    expect(socket.texts).toEqual([]);
    expect(socket.closedWith).toEqual({ code: 1011, reason: 'agent_connection_lost' });
    expect(ended()).toBe(1);
  });

  it('forwards binary input to the Agent and ignores text frames from the client', () => {
    const { socket, connection } = bridged();

    socket.emit('message', Buffer.from('ls\r'), true);
    socket.emit('message', Buffer.from('{"type":"resize"}'), false);

    expect(connection.typed).toBe('ls\r');
  });
});
