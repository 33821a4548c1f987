import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { AppError, problemContentType } from '@hearth/errors';
import type { Logger } from './logger.js';
import { closeAfterReading } from './lingering-close.js';
import { toProblem } from './problem-renderer.js';

/** What Node's HTTP parser refuses before any request exists, as one of our codes. */
export function clientErrorToAppError(error: Error & { code?: string }): AppError {
  switch (error.code) {
    case 'HPE_HEADER_OVERFLOW':
      return new AppError('REQUEST_HEADERS_TOO_LARGE', 'The request line and headers exceed the size this server reads');
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new AppError('REQUEST_TIMEOUT', 'The request did not arrive in time');
    default:
      return new AppError('MALFORMED_REQUEST', `The request is not well-formed HTTP/1.1 (${error.code ?? 'parse error'})`);
  }
}

/**
 * Answers bytes Node's HTTP parser refuses (no request, so no hook or error handler runs) with a
 * problem+json under a new correlation id, then closes the connection, which cannot be trusted
 * to carry another request.
 *
 * The connection closes after reading (`closeAfterReading`): destroyed at once while the client
 * still sends, it is reset, and a reset can take the answer with it (RFC 9112 §9.6).
 *
 * Refused after a whole request whose answer is still to come, the bytes are not answered: that
 * request's answer goes out as its route gives it, then the connection closes after reading.
 * Refused in the body of a request under way (`answerUnderWay`), the answer is that request's
 * own: it ends the request's response, so that the request is abandoned whatever its route and
 * hooks do next. Its body never completes (the parser reads no more of it), its route never runs,
 * and Fastify sends (and hooks such as the audit log record) no second answer when the body's
 * stream fails at the connection's close. An answer of that request that has begun already is
 * not followed by a second: the connection is cut, unless that answer is whole, in which case it
 * closes after reading.
 */
export function clientErrorHandler(
  log: Logger,
  answerUnderWay: (socket: Socket) => ServerResponse | undefined,
): (error: Error & { code?: string }, socket: Socket) => void {
  const answered = new WeakSet<Socket>();
  return (error, socket) => {
    // The parser reports each later chunk of an answered connection again: one answer is enough.
    if (error.code === 'ECONNRESET' || socket.destroyed || answered.has(socket)) return;
    answered.add(socket);
    const appError = clientErrorToAppError(error);
    const problem = toProblem(appError, randomUUID());
    log.debug({ err: error, code: appError.code, correlationId: problem.correlationId }, 'malformed request refused');
    const underWay = answerUnderWay(socket);
    if (underWay?.req.complete === true && !underWay.writableEnded) {
      // The bytes refused follow a whole request: that request is answered as its route says,
      // then the connection closes after reading.
      underWay.once('finish', () => closeAfterReading(socket));
      return;
    }
    if (underWay?.headersSent === true) {
      if (underWay.writableEnded) closeAfterReading(socket);
      else socket.destroy();
      return;
    }
    if (!socket.writable) {
      if (underWay !== undefined) socket.destroy();
      else closeAfterReading(socket);
      return;
    }
    // The answer to HEAD has no body, whatever made it fail.
    const rawPacket = (error as { rawPacket?: unknown }).rawPacket;
    const isHead =
      underWay !== undefined
        ? underWay.req.method === 'HEAD'
        : Buffer.isBuffer(rawPacket) && rawPacket.subarray(0, 5).toString('latin1') === 'HEAD ';
    const body = JSON.stringify(problem);
    const headers = {
      'Content-Type': `${problemContentType}; charset=utf-8`,
      'Content-Length': String(Buffer.byteLength(body)),
      'x-request-id': problem.correlationId,
      Connection: 'close',
    };
    if (underWay !== undefined) {
      // Node ends the response, then closes through `destroySoon`, which lingers while the
      // request is incomplete (`lingerAfterEarlyAnswer`).
      underWay.writeHead(problem.status, appError.title, headers);
      underWay.end(isHead ? undefined : body);
      return;
    }
    const head = Object.entries(headers)
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('');
    socket.write(`HTTP/1.1 ${problem.status} ${appError.title}\r\n${head}\r\n${isHead ? '' : body}`);
    closeAfterReading(socket);
  };
}
