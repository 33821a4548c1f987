import type { ApiClient } from './api-client.js';
import { HearthError, problemOf } from './hearth-error.js';

/** The subprotocol of the console WebSocket, which the Manager always selects. */
export const consoleSubprotocol = 'hearth.console.v1';

/**
 * Why a console session ended:
 * - the Manager's own word, in its one `{"type":"closed"}` text frame: `vm_stopped` (stopped, deleted or
 *   its VMM ended), `replaced` (a newer client took this one's place), `too_slow` (output left unread),
 *   `shutting_down` (the Manager or the VM's Agent is stopping);
 * - a session limit (close code 1008): `idle_timeout`, `max_duration`;
 * - `agent_connection_lost` (1011): the Manager lost the VM's host without a reason;
 * - `input_too_large` (1009): a frame this client sent was over the Manager's limit;
 * - `detached`: this client closed the session;
 * - `connection_lost`: the connection ended for any other reason (the network, a proxy).
 */
export type ConsoleEndReason =
  | 'vm_stopped'
  | 'replaced'
  | 'too_slow'
  | 'shutting_down'
  | 'idle_timeout'
  | 'max_duration'
  | 'agent_connection_lost'
  | 'input_too_large'
  | 'detached'
  | 'connection_lost';

export interface ConsoleClosed {
  readonly reason: ConsoleEndReason;
  /** The WebSocket close code (1000 normal, 1001 going away, 1008 a session limit, 1011 the host was lost, …). */
  readonly code: number;
  /** The close frame's reason text, as sent. */
  readonly closeReason: string;
}

/** An attached serial console: raw bytes both ways. */
export interface ConsoleSession {
  /** Types into the guest's serial port (a string as its UTF-8 bytes); ignored once the session is over. */
  write(data: Uint8Array | string): void;
  /** Calls `listener` with each chunk of serial output (the backlog first); returns a function that stops it. */
  onData(listener: (bytes: Uint8Array) => void): () => void;
  /** Resolves once the session is over, however it ends; never rejects. */
  readonly closed: Promise<ConsoleClosed>;
  /** Detaches (`closed` then says `detached`). */
  close(): void;
}

export interface AttachConsoleOptions {
  /** How many bytes of the end of the console log come first (the Manager's default 16 KiB, at most 1 MiB). */
  readonly backlogBytes?: number;
  /** Aborting gives up a pending attach (it rejects with the signal's reason) or detaches an open session. */
  readonly signal?: AbortSignal;
}

/** The parts of a WHATWG WebSocket used here: browsers', Node's global one (22+) and the `ws` package's. */
export interface ConsoleWebSocket {
  binaryType: string;
  readonly protocol: string;
  readonly readyState: number;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { readonly data: unknown }) => void) | null;
  onclose: ((event: { readonly code: number; readonly reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
}

export type ConsoleWebSocketConstructor = new (url: string, protocols: string[]) => ConsoleWebSocket;

/** Where the console lives and how to reach it. */
export interface ConsoleTarget {
  /** The Manager, e.g. `http://127.0.0.1:8080` (its WebSocket scheme is derived from it). */
  readonly baseUrl: string;
  readonly token: string | undefined;
  readonly api: ApiClient;
  /** The WebSocket class (default: the global one, else the `ws` package on Node 20). */
  readonly webSocket?: ConsoleWebSocketConstructor | undefined;
}

/** `WebSocket.OPEN`, which is not a global everywhere the SDK runs. */
const openState = 1;
/** Close codes the Manager uses, and the one a WebSocket library uses for a frame over the limit. */
const goingAwayCode = 1001;
const policyViolationCode = 1008;
const messageTooBigCode = 1009;
const internalErrorCode = 1011;

const serverReasons: readonly ConsoleEndReason[] = ['vm_stopped', 'replaced', 'too_slow', 'shutting_down'];

/**
 * Opens `GET /v1/vms/{id}/console/attach` as a WebSocket, the token as the subprotocol
 * `hearth.bearer.<base64url>` (browsers cannot set headers on a WebSocket). Resolves once the Manager
 * accepted. A refusal rejects with the Manager's problem as a `HearthError`, read with the same request
 * as a plain GET, since a WebSocket never shows a refused upgrade's answer.
 */
export async function attachConsole(
  target: ConsoleTarget,
  id: string,
  options: AttachConsoleOptions = {},
): Promise<ConsoleSession> {
  const { signal } = options;
  signal?.throwIfAborted();
  const Socket = target.webSocket ?? (await webSocketClass());
  signal?.throwIfAborted();
  const protocols = [consoleSubprotocol];
  if (target.token !== undefined) protocols.push(bearerSubprotocol(target.token));
  const socket = new Socket(consoleAttachUrl(target.baseUrl, id, options.backlogBytes), protocols);
  socket.binaryType = 'arraybuffer';

  const listeners = new Set<(bytes: Uint8Array) => void>();
  const early: Uint8Array[] = [];
  let serverReason: ConsoleEndReason | undefined;
  let isClosedByClient = false;
  let resolveClosed: (closed: ConsoleClosed) => void = () => undefined;
  const closed = new Promise<ConsoleClosed>((resolve) => (resolveClosed = resolve));
  const detach = (): void => {
    isClosedByClient = true;
    socket.close(1000);
  };

  socket.onmessage = (event) => {
    if (typeof event.data === 'string') {
      serverReason = serverReasonOf(event.data) ?? serverReason;
      return;
    }
    const bytes = bytesOf(event.data);
    if (bytes === undefined) return;
    if (listeners.size === 0) early.push(bytes);
    for (const listener of listeners) listener(bytes);
  };
  let onAbort = (): void => undefined;
  const opened = await new Promise<'open' | 'refused' | 'aborted'>((resolve) => {
    socket.onopen = () => resolve('open');
    socket.onerror = () => resolve('refused');
    socket.onclose = (event) => {
      resolve('refused');
      resolveClosed(consoleClosedOf(event, serverReason, isClosedByClient));
    };
    onAbort = () => resolve('aborted');
    signal?.addEventListener('abort', onAbort, { once: true });
  });
  signal?.removeEventListener('abort', onAbort);
  if (opened === 'aborted' && signal !== undefined) {
    detach();
    throw signal.reason as Error;
  }
  if (opened === 'refused') throw await refusalOf(target.api, id);
  if (socket.protocol !== consoleSubprotocol) {
    detach();
    throw unexpectedAnswer(`The server chose the WebSocket subprotocol "${socket.protocol}", not ${consoleSubprotocol}`);
  }
  if (signal !== undefined) {
    signal.addEventListener('abort', detach, { once: true });
    closed.then(
      () => signal.removeEventListener('abort', detach),
      () => undefined,
    );
  }

  const encoder = new TextEncoder();
  return {
    write: (data) => {
      if (socket.readyState === openState) socket.send(typeof data === 'string' ? encoder.encode(data) : data);
    },
    onData: (listener) => {
      listeners.add(listener);
      for (const bytes of early.splice(0)) listener(bytes);
      return () => listeners.delete(listener);
    },
    closed,
    close: detach,
  };
}

/** `ws://host/v1/vms/{id}/console/attach?backlog=N` for an `http://host` Manager (`wss` for `https`). */
export function consoleAttachUrl(baseUrl: string, id: string, backlogBytes?: number): string {
  const url = new URL(`${baseUrl.replace(/\/+$/, '')}/v1/vms/${encodeURIComponent(id)}/console/attach`);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  if (backlogBytes !== undefined) url.searchParams.set('backlog', String(backlogBytes));
  return url.toString();
}

/** The subprotocol that carries a token: `hearth.bearer.` and the token in base64url, without padding. */
export function bearerSubprotocol(token: string): string {
  let binary = '';
  for (const byte of new TextEncoder().encode(token)) binary += String.fromCharCode(byte);
  return `hearth.bearer.${btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')}`;
}

/** A sentence for a person about how a session ended. */
export function describeConsoleEnd(closed: ConsoleClosed): string {
  switch (closed.reason) {
    case 'vm_stopped':
      return 'the VM stopped';
    case 'replaced':
      return 'another client attached in its place';
    case 'too_slow':
      return 'this client read the output too slowly';
    case 'shutting_down':
      return 'the Manager or the VM’s host is shutting down';
    case 'idle_timeout':
      return 'nothing was typed or printed for too long';
    case 'max_duration':
      return 'the session reached its longest duration; attach again';
    case 'agent_connection_lost':
      return 'the Manager lost the connection to the VM’s host';
    case 'input_too_large':
      return 'a piece of input was too large';
    case 'detached':
      return 'detached';
    case 'connection_lost':
      return `the connection was lost (code ${closed.code}${closed.closeReason === '' ? '' : `, ${closed.closeReason}`})`;
  }
}

/** The global WebSocket (browsers, Node 22+), or the `ws` package on Node 20. */
async function webSocketClass(): Promise<ConsoleWebSocketConstructor> {
  const global = (globalThis as { WebSocket?: ConsoleWebSocketConstructor }).WebSocket;
  if (global !== undefined) return global;
  const ws = (await import('ws')) as unknown as { WebSocket: ConsoleWebSocketConstructor };
  return ws.WebSocket;
}

function consoleClosedOf(
  event: { readonly code: number; readonly reason: string },
  serverReason: ConsoleEndReason | undefined,
  isClosedByClient: boolean,
): ConsoleClosed {
  const { code, reason: closeReason } = event;
  return { reason: serverReason ?? endReasonOf(code, closeReason, isClosedByClient), code, closeReason };
}

/** The reason a close frame gives, when the Manager sent no text frame before it. */
function endReasonOf(code: number, closeReason: string, isClosedByClient: boolean): ConsoleEndReason {
  if (isClosedByClient) return 'detached';
  if (code === policyViolationCode && (closeReason === 'idle_timeout' || closeReason === 'max_duration')) return closeReason;
  if (code === internalErrorCode && closeReason === 'agent_connection_lost') return closeReason;
  if (code === messageTooBigCode) return 'input_too_large';
  if (code === goingAwayCode && closeReason === 'shutting_down') return closeReason;
  return 'connection_lost';
}

/** The reason in the Manager's `{"type":"closed","reason":…}` frame, or undefined for any other text. */
function serverReasonOf(text: string): ConsoleEndReason | undefined {
  try {
    const frame: unknown = JSON.parse(text);
    if (typeof frame !== 'object' || frame === null) return undefined;
    const { type, reason } = frame as { type?: unknown; reason?: unknown };
    return type === 'closed' ? serverReasons.find((each) => each === reason) : undefined;
  } catch {
    return undefined;
  }
}

/** A binary frame's bytes: an ArrayBuffer (binaryType `arraybuffer`), or a Node Buffer from `ws`. */
function bytesOf(data: unknown): Uint8Array | undefined {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return undefined;
}

/** Why the Manager refused the upgrade: the same request as a plain GET answers its problem. */
async function refusalOf(api: ApiClient, id: string): Promise<HearthError> {
  let answer: { response: Response; error?: unknown };
  try {
    answer = await api.GET('/v1/vms/{id}/console/attach', { params: { path: { id } } });
  } catch (failure) {
    return unexpectedAnswer(`The console could not be reached: ${failure instanceof Error ? failure.message : String(failure)}`);
  }
  const refusal = problemOf(answer.response, answer.error);
  // The Manager would have accepted the upgrade: something between (a proxy, the network) refused it.
  if (refusal.code === 'WEBSOCKET_REQUIRED') {
    return unexpectedAnswer('The WebSocket upgrade failed, though the Manager accepts it: a proxy or the network refused it');
  }
  return refusal;
}

function unexpectedAnswer(detail: string): HearthError {
  return new HearthError({
    type: 'about:blank',
    title: 'Unexpected response',
    status: 502,
    detail,
    code: 'UNEXPECTED_RESPONSE',
    correlationId: '',
  });
}
