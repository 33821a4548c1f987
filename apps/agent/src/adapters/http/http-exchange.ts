import http from 'node:http';
import https from 'node:https';

export interface HttpTarget {
  /** `http:` or `https:`; a Unix socket (`socketPath`) is always plain HTTP. */
  readonly protocol: 'http:' | 'https:';
  readonly host: string;
  readonly port?: number | undefined;
  readonly socketPath?: string | undefined;
  /** Keeps connections between exchanges; its protocol must be the target's. */
  readonly agent: http.Agent;
}

export interface HttpExchange {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: Buffer | undefined;
  /** The longest silence on the connection before an answer is complete: waiting for the head or between body bytes. */
  readonly timeoutMs: number;
}

export interface HttpAnswer {
  readonly statusCode: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

/**
 * One HTTP/1.1 request and its whole answer, with Node's own client. The body is written whole with
 * `end()`, so Node sends its `Content-Length` (`0` for a PUT without one), never chunked encoding,
 * which Firecracker's HTTP server does not read. Rejects with the transport's error; any status
 * resolves.
 */
export function exchange(target: HttpTarget, request: HttpExchange): Promise<HttpAnswer> {
  const send = target.protocol === 'https:' && target.socketPath === undefined ? https.request : http.request;
  return new Promise<HttpAnswer>((resolve, reject) => {
    const outgoing = send(
      {
        method: request.method,
        path: request.path,
        headers: request.headers,
        agent: target.agent,
        ...(target.socketPath === undefined
          ? { host: target.host, ...(target.port === undefined ? {} : { port: target.port }) }
          : { socketPath: target.socketPath, host: target.host }),
      },
      (incoming) => {
        const chunks: Buffer[] = [];
        incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
        incoming.on('error', reject);
        incoming.on('close', () => {
          if (!incoming.complete) reject(new Error('the connection closed before the answer was complete'));
        });
        incoming.on('end', () =>
          resolve({ statusCode: incoming.statusCode ?? 0, headers: incoming.headers, body: Buffer.concat(chunks) }),
        );
      },
    );
    outgoing.setTimeout(request.timeoutMs, () => {
      outgoing.destroy(new Error(`no answer for ${request.timeoutMs} ms`));
    });
    outgoing.on('error', reject);
    outgoing.end(request.body);
  });
}
