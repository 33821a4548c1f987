/**
 * The browser's side of a VM's serial console over a WebSocket (`GET /v1/vms/{id}/console/attach`):
 * the token goes in the subprotocol list, since browsers cannot set an `Authorization` header on a
 * WebSocket; binary frames carry the serial bytes both ways; the Manager may say why it closes in
 * one text frame `{"type":"closed","reason":…}`. Kept apart from the pages so that it can move into
 * the SDK.
 */
export const consoleSubprotocol = 'hearth.console.v1';

/** `WebSocket.OPEN`, which is not a global everywhere the module is tested. */
const openState = 1;

export interface ConsoleHandlers {
  /** The Manager accepted the attach: output follows. */
  onOpen(): void;
  onOutput(bytes: Uint8Array): void;
  /** The console closed; `wasOpen` false means the attach itself failed (no such endpoint, refused …). */
  onClosed(closed: { readonly reason: string; readonly wasOpen: boolean }): void;
}

export interface ConsoleAttachOptions {
  /** The Manager's origin, e.g. `http://127.0.0.1:8080` (its WebSocket scheme is derived from it). */
  readonly baseUrl: string;
  readonly vmId: string;
  readonly token: string;
  /** Recent output to send first, in bytes. */
  readonly backlogBytes?: number;
  /** Makes the socket (default: the browser's WebSocket); tests pass their own. */
  readonly createSocket?: (url: string, protocols: string[]) => WebSocket;
}

export interface ConsoleConnection {
  /** Keystrokes or pasted text to the guest's serial port. */
  send(input: string | Uint8Array): void;
  close(): void;
}

/** `ws://host/v1/vms/{id}/console/attach?backlog=N` for an `http://host` Manager (`wss` for `https`). */
export function consoleAttachUrl(baseUrl: string, vmId: string, backlogBytes?: number): string {
  const url = new URL(`/v1/vms/${encodeURIComponent(vmId)}/console/attach`, baseUrl);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  if (backlogBytes !== undefined) url.searchParams.set('backlog', String(backlogBytes));
  return url.toString();
}

/** The subprotocol that carries the token: `hearth.bearer.` and the token in base64url, without padding. */
export function bearerSubprotocol(token: string): string {
  const bytes = new TextEncoder().encode(token);
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return `hearth.bearer.${btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')}`;
}

/** The reason in the Manager's closing text frame, or undefined for any other text. */
export function closingReasonOf(text: string): string | undefined {
  try {
    const frame: unknown = JSON.parse(text);
    if (typeof frame !== 'object' || frame === null) return undefined;
    const { type, reason } = frame as { type?: unknown; reason?: unknown };
    return type === 'closed' ? (typeof reason === 'string' ? reason : 'closed') : undefined;
  } catch {
    return undefined;
  }
}

export function attachConsole(options: ConsoleAttachOptions, handlers: ConsoleHandlers): ConsoleConnection {
  const createSocket = options.createSocket ?? ((url, protocols) => new WebSocket(url, protocols));
  const socket = createSocket(consoleAttachUrl(options.baseUrl, options.vmId, options.backlogBytes), [
    consoleSubprotocol,
    bearerSubprotocol(options.token),
  ]);
  socket.binaryType = 'arraybuffer';
  const encoder = new TextEncoder();
  let wasOpen = false;
  let reason: string | undefined;
  let isClosed = false;

  socket.addEventListener('open', () => {
    if (socket.protocol !== consoleSubprotocol) {
      reason = `the Manager chose the subprotocol "${socket.protocol}"`;
      socket.close();
      return;
    }
    wasOpen = true;
    handlers.onOpen();
  });
  socket.addEventListener('message', (message: MessageEvent<unknown>) => {
    if (message.data instanceof ArrayBuffer) handlers.onOutput(new Uint8Array(message.data));
    else if (typeof message.data === 'string') reason = closingReasonOf(message.data) ?? reason;
  });
  socket.addEventListener('close', (closed: CloseEvent) => {
    if (isClosed) return;
    isClosed = true;
    handlers.onClosed({
      reason: reason ?? (closed.reason !== '' ? closed.reason : `connection closed (${closed.code})`),
      wasOpen,
    });
  });

  return {
    send(input) {
      if (socket.readyState !== openState) return;
      socket.send(typeof input === 'string' ? encoder.encode(input) : input);
    },
    close() {
      socket.close();
    },
  };
}
