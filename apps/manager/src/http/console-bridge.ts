import type { WebSocket } from 'ws';
import { consoleClosedFrame, type ConsoleCloseReason } from '@hearth/contracts';
import type { AgentConsoleConnection } from '../application/ports/agent-client.js';
import type { TimerHandle, Timers } from '../application/ports/timers.js';

/** Caps on console sessions (ADR 0015 style): how many, how idle, how long, how much unread output. */
export interface ConsoleSessionLimits {
  /** Sessions one API token holds at once (429 CONSOLE_LIMIT_REACHED beyond). */
  readonly perClient: number;
  /** Sessions this Manager serves at once. */
  readonly overall: number;
  /** A session that carries no byte either way for this long is closed (1008 `idle_timeout`). */
  readonly idleTimeoutMs: number;
  /** No session lasts longer (1008 `max_duration`); the client attaches again, with a token checked anew. */
  readonly maxDurationMs: number;
  /** Output a client may leave unread before it is dropped (`too_slow`): never buffered without bound. */
  readonly maxBufferedBytes: number;
}

export const defaultConsoleSessionLimits: ConsoleSessionLimits = Object.freeze({
  perClient: 8,
  overall: 1_000,
  idleTimeoutMs: 30 * 60_000,
  maxDurationMs: 12 * 60 * 60_000,
  maxBufferedBytes: 1024 * 1024,
});

/** WebSocket close code for the session limits (policy violation), with the limit as the reason. */
export const consoleLimitCloseCode = 1008;
/** WebSocket close code when the Agent's connection dropped without saying why. */
export const consoleAgentLostCloseCode = 1011;

/**
 * Joins a client's WebSocket to the VM's console connection on its Agent: binary frames both ways,
 * the Agent's reason (or the Manager's own) in one `{"type":"closed"}` text frame before closing.
 * `onEnd` runs once, whoever ends the session.
 */
export function bridgeConsole(
  socket: WebSocket,
  connection: AgentConsoleConnection,
  options: { readonly timers: Timers; readonly limits: ConsoleSessionLimits; readonly onEnd: () => void },
): void {
  const { timers, limits } = options;
  let isEnded = false;
  let activity = 0;
  let idleSeen = -1;
  let idleTimer: TimerHandle | undefined;
  const end = (): void => {
    if (isEnded) return;
    isEnded = true;
    if (idleTimer !== undefined) timers.clearTimeout(idleTimer);
    timers.clearTimeout(durationTimer);
    connection.close();
    options.onEnd();
  };
  const closeWith = (reason: ConsoleCloseReason): void => {
    if (isEnded) return;
    if (socket.readyState === socket.OPEN) socket.send(consoleClosedFrame(reason));
    socket.close(1000, reason);
    end();
  };
  const closeForLimit = (limit: 'idle_timeout' | 'max_duration'): void => {
    if (isEnded) return;
    socket.close(consoleLimitCloseCode, limit);
    end();
  };
  // Idle once a whole period passes without a byte either way.
  const checkIdle = (): void => {
    if (isEnded) return;
    if (activity === idleSeen) {
      closeForLimit('idle_timeout');
      return;
    }
    idleSeen = activity;
    idleTimer = timers.setTimeout(checkIdle, limits.idleTimeoutMs);
  };
  const durationTimer = timers.setTimeout(() => closeForLimit('max_duration'), limits.maxDurationMs);
  checkIdle();

  connection.onOutput((bytes) => {
    if (isEnded) return;
    if (socket.bufferedAmount + bytes.length > limits.maxBufferedBytes) {
      closeWith('too_slow');
      return;
    }
    activity += 1;
    socket.send(bytes, { binary: true });
  });
  connection.onClose((reason) => {
    if (isEnded) return;
    if (reason !== undefined) {
      closeWith(reason);
      return;
    }
    socket.close(consoleAgentLostCloseCode, 'agent_connection_lost');
    end();
  });
  socket.on('message', (data, isBinary) => {
    if (!isBinary || isEnded) return;
    activity += 1;
    connection.send(Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer));
  });
  socket.on('close', end);
  socket.on('error', end);
}
