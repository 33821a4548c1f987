import type { IncomingMessage } from 'node:http';
import { consoleCloseReasons, type ConsoleCloseReason } from '@hearth/contracts';
import WebSocket from 'ws';
import type { AgentConsoleConnection } from '../../application/ports/agent-client.js';

/** The largest frame the Agent sends: a backlog of at most 1 MiB in one frame. */
export const agentConsoleMaxFrameBytes = 2 * 1024 * 1024;

/** What opening the WebSocket gave: the connection, a refusal (the Agent's HTTP answer), or an error. */
export type AgentConsoleOpening =
  | { readonly kind: 'open'; readonly connection: AgentConsoleConnection }
  | { readonly kind: 'refused'; readonly statusCode: number; readonly body: string }
  | { readonly kind: 'failed'; readonly error: Error };

/** Opens `url` as a console WebSocket and waits for the upgrade, the Agent's refusal, or a failure. */
export function openAgentConsole(url: string, options: WebSocket.ClientOptions): Promise<AgentConsoleOpening> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url, { ...options, maxPayload: agentConsoleMaxFrameBytes });
    const connection = new WsAgentConsoleConnection(socket);
    socket.once('open', () => resolve({ kind: 'open', connection }));
    socket.once('unexpected-response', (_request, response: IncomingMessage) => {
      readBody(response).then(
        (body) => resolve({ kind: 'refused', statusCode: response.statusCode ?? 502, body }),
        (error: unknown) => resolve({ kind: 'failed', error: error instanceof Error ? error : new Error(String(error)) }),
      );
      socket.terminate();
    });
    socket.once('error', (error) => resolve({ kind: 'failed', error }));
  });
}

/** The most of a refusal's body read (a problem+json document). */
const maxRefusalBytes = 64 * 1024;

function readBody(response: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    response.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxRefusalBytes) chunks.push(chunk);
    });
    response.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    response.once('error', reject);
  });
}

class WsAgentConsoleConnection implements AgentConsoleConnection {
  private outputListener: ((bytes: Uint8Array) => void) | undefined;
  private readonly early: Buffer[] = [];
  private closeListener: ((reason: ConsoleCloseReason | undefined) => void) | undefined;
  private reason: ConsoleCloseReason | undefined;
  private isEnded = false;

  constructor(private readonly socket: WebSocket) {
    socket.on('message', (data, isBinary) => {
      const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
      if (!isBinary) {
        this.reason = closeReasonOf(bytes.toString('utf8')) ?? this.reason;
        return;
      }
      if (this.outputListener === undefined) this.early.push(bytes);
      else this.outputListener(bytes);
    });
    socket.on('close', () => this.ended());
    socket.on('error', () => this.ended());
  }

  send(bytes: Uint8Array): void {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(bytes, { binary: true });
  }

  onOutput(listener: (bytes: Uint8Array) => void): void {
    this.outputListener = listener;
    for (const bytes of this.early.splice(0)) listener(bytes);
  }

  onClose(listener: (reason: ConsoleCloseReason | undefined) => void): void {
    this.closeListener = listener;
    if (this.isEnded) listener(this.reason);
  }

  close(): void {
    this.socket.close(1000);
  }

  private ended(): void {
    if (this.isEnded) return;
    this.isEnded = true;
    this.closeListener?.(this.reason);
  }
}

function closeReasonOf(text: string): ConsoleCloseReason | undefined {
  try {
    const frame = JSON.parse(text) as { type?: unknown; reason?: unknown };
    const reason = consoleCloseReasons.find((known) => known === frame.reason);
    return frame.type === 'closed' ? reason : undefined;
  } catch {
    return undefined;
  }
}
