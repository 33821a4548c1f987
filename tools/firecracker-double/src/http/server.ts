import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import type { HttpRequest } from './parser.js';
import { RequestParser } from './parser.js';
import type { ApiResponse } from './response.js';
import { parseErrorResponse, serializeResponse, TOO_MANY_CONNECTIONS } from './response.js';

export const MAX_CONNECTIONS = 10;

export type RequestHandler = (req: HttpRequest) => Promise<ApiResponse> | ApiResponse;

/** Hook run after a response has been handed to the socket (used for fatal exits). */
export type AfterWrite = () => void;

/**
 * The API transport. Requests from every connection go through ONE queue and are handled
 * strictly one at a time; a response means the action has finished (behaviour.md#transport).
 */
export class ApiHttpServer {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly handler: RequestHandler,
    private readonly payloadLimit: number,
  ) {
    this.server = createServer({ allowHalfOpen: false }, (socket) => this.accept(socket));
  }

  listen(path: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(path, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  /** Stops accepting; never unlinks the socket path (behaviour.md#transport). */
  close(): void {
    for (const s of this.sockets) s.destroy();
    this.server.close();
  }

  /** Runs `task` after every request queued so far, on the same serial queue. */
  enqueue(task: () => Promise<void> | void): Promise<void> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private accept(socket: Socket): void {
    if (this.sockets.size >= MAX_CONNECTIONS) {
      socket.on('error', () => undefined);
      socket.end(TOO_MANY_CONNECTIONS, () => socket.destroy());
      return;
    }
    this.sockets.add(socket);
    const parser = new RequestParser(this.payloadLimit);
    // Requests parsed but not yet answered on this connection; a parse error drops them.
    let generation = 0;
    const write = (buf: Buffer, after?: AfterWrite): void => {
      if (socket.destroyed || !socket.writable) {
        after?.();
        return;
      }
      socket.write(buf, () => after?.());
    };
    socket.on('data', (chunk: Buffer) => {
      for (const ev of parser.push(chunk)) {
        if (ev.kind === 'continue') {
          write(serializeResponse({ status: 100 }, ev.version));
        } else if (ev.kind === 'error') {
          generation++;
          const res = parseErrorResponse(ev.reason);
          this.enqueue(() => write(serializeResponse(res))).catch(crash);
        } else {
          const gen = generation;
          const request = ev.request;
          void this.enqueue(async () => {
            if (gen !== generation) return;
            const res = await this.handler(request);
            await new Promise<void>((resolve) => write(serializeResponse(res), resolve));
            if (res.afterWrite) res.afterWrite();
          }).catch(crash);
        }
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.sockets.delete(socket);
    });
  }
}

/**
 * A handler that throws is a bug in the double, not an API error: end the process as an uncaught
 * error does (the rejection was left unhandled before, with the same outcome), rather than leave
 * the request unanswered.
 */
function crash(error: unknown): void {
  process.nextTick(() => {
    throw error;
  });
}
