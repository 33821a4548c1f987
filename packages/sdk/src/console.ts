import type { ApiClient } from './api-client.js';
import { HearthError, problemOf } from './hearth-error.js';

/** The subprotocol of the console WebSocket. */
export const consoleSubprotocol = 'hearth.console.v1';

/** Why the server ended a console session (its one `{"type":"closed"}` text frame), when it said. */
export type ConsoleCloseReason = 'vm_stopped' | 'replaced' | 'too_slow' | 'shutting_down';

export interface ConsoleClosed {
  /** The server's reason, when it sent one; absent when the client closed or the connection dropped. */
  readonly reason?: ConsoleCloseReason;
  /** The WebSocket close code (1000 normal, 1008 a session limit, 1011 the host's Agent was lost, …). */
  readonly code: number;
  /** The close frame's reason text (`idle_timeout`, `max_duration`, …). */
  readonly closeReason: string;
}

/** An attached serial console: raw bytes both ways. */
export interface ConsoleSession {
  /** Types into the guest's serial port; a string is sent as its UTF-8 bytes. */
  write(data: Uint8Array | string): void;
  /** Calls `listener` with each chunk of serial output (the backlog first); returns a function that stops it. */
  onData(listener: (bytes: Uint8Array) => void): () => void;
  /** Resolves once the session is over. */
  readonly closed: Promise<ConsoleClosed>;
  /** Detaches. */
  close(): void;
}

export interface AttachConsoleOptions {
  /** How many bytes of the end of the console log come first (the Manager's default 16 KiB, at most 1 MiB). */
  readonly backlogBytes?: number;
}

/** The parts of a WHATWG WebSocket used here: Node's global one (22+), the `ws` package's and browsers'. */
interface SocketLike {
  binaryType: string;
  readonly protocol: string;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: Uint8Array | string): void;
  close(code?: number): void;
}

type SocketConstructor = new (url: string, protocols: string[]) => SocketLike;

/** The global WebSocket (browsers, Node 22+), or the `ws` package on Node 20. */
async function webSocketClass(): Promise<SocketConstructor> {
  const global = (globalThis as { WebSocket?: SocketConstructor }).WebSocket;
  if (global !== undefined) return global;
  const ws = (await import('ws')) as unknown as { WebSocket: SocketConstructor };
  return ws.WebSocket;
}

/**
 * Opens `GET /v1/vms/{id}/console/attach` as a WebSocket. The token travels as the subprotocol
 * `hearth.bearer.<base64url>` (browsers cannot set headers on a WebSocket). A refusal rejects with the
 * Manager's problem as a `HearthError` (read with a plain GET, since a WebSocket never shows it).
 */
export async function attachConsole(
  target: { readonly baseUrl: string; readonly token: string | undefined; readonly api: ApiClient },
  id: string,
  options: AttachConsoleOptions = {},
): Promise<ConsoleSession> {
  const query = options.backlogBytes === undefined ? '' : `?backlog=${options.backlogBytes}`;
  const url = `${target.baseUrl.replace(/^http/, 'ws')}/v1/vms/${encodeURIComponent(id)}/console/attach${query}`;
  const protocols = [consoleSubprotocol];
  if (target.token !== undefined) protocols.push(`hearth.bearer.${base64Url(target.token)}`);
  const Socket = await webSocketClass();
  const socket = new Socket(url, protocols);
  socket.binaryType = 'arraybuffer';
  const listeners = new Set<(bytes: Uint8Array) => void>();
  const early: Uint8Array[] = [];
  let reason: ConsoleCloseReason | undefined;
  let resolveClosed: (closed: ConsoleClosed) => void = () => undefined;
  const closed = new Promise<ConsoleClosed>((resolve) => (resolveClosed = resolve));
  socket.onmessage = (event) => {
    if (typeof event.data === 'string') {
      reason = closeReasonOf(event.data) ?? reason;
      return;
    }
    const bytes = new Uint8Array(event.data as ArrayBuffer);
    if (listeners.size === 0) early.push(bytes);
    for (const listener of listeners) listener(bytes);
  };
  const isOpen = await new Promise<boolean>((resolve) => {
    socket.onopen = () => resolve(true);
    socket.onerror = () => resolve(false);
    socket.onclose = (event) => {
      resolve(false);
      resolveClosed({ ...(reason === undefined ? {} : { reason }), code: event.code, closeReason: event.reason });
    };
  });
  if (!isOpen) throw await refusalOf(target.api, id);
  const encoder = new TextEncoder();
  return {
    write: (data) => socket.send(typeof data === 'string' ? encoder.encode(data) : data),
    onData: (listener) => {
      listeners.add(listener);
      for (const bytes of early.splice(0)) listener(bytes);
      return () => listeners.delete(listener);
    },
    closed,
    close: () => socket.close(1000),
  };
}

/** Why the Manager refused the upgrade: the same request as a plain GET answers its problem. */
async function refusalOf(api: ApiClient, id: string): Promise<HearthError> {
  const { response, error } = await api.GET('/v1/vms/{id}/console/attach', { params: { path: { id } } });
  return problemOf(response, error);
}

function closeReasonOf(text: string): ConsoleCloseReason | undefined {
  try {
    const frame = JSON.parse(text) as { type?: unknown; reason?: unknown };
    const reasons: readonly string[] = ['vm_stopped', 'replaced', 'too_slow', 'shutting_down'];
    return frame.type === 'closed' && typeof frame.reason === 'string' && reasons.includes(frame.reason)
      ? (frame.reason as ConsoleCloseReason)
      : undefined;
  } catch {
    return undefined;
  }
}

/** Base64url without padding, in browsers and Node alike. */
function base64Url(text: string): string {
  let binary = '';
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
