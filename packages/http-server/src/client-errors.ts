import { randomUUID } from 'node:crypto';
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
 * Refused in its request line or headers, or after its request was answered, the connection
 * closes after reading (`closeAfterReading`): destroyed at once, it can lose an answer not yet
 * written out, and a close with unread bytes (a client still sending its body) resets the
 * connection, which can take the answer with it. Refused in the body of a request under way
 * (`answerUnderWay`), it is destroyed at once after the answer, so that the request is abandoned:
 * a request answered as malformed must not be carried out (and audited) all the same. An answer
 * of that request that has begun already is not followed by a second.
 */
export function clientErrorHandler(
  log: Logger,
  answerUnderWay: (socket: Socket) => { readonly headersSent: boolean } | undefined,
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
    if (underWay !== undefined && (underWay.headersSent || !socket.writable)) {
      socket.destroy();
      return;
    }
    if (!socket.writable) {
      closeAfterReading(socket);
      return;
    }
    // The answer to HEAD has no body, whatever made it fail.
    const rawPacket = (error as { rawPacket?: unknown }).rawPacket;
    const isHead = Buffer.isBuffer(rawPacket) && rawPacket.subarray(0, 5).toString('latin1') === 'HEAD ';
    const body = JSON.stringify(problem);
    const answer =
      `HTTP/1.1 ${problem.status} ${appError.title}\r\n` +
      `Content-Type: ${problemContentType}; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      `x-request-id: ${problem.correlationId}\r\n` +
      'Connection: close\r\n\r\n' +
      (isHead ? '' : body);
    socket.write(answer);
    if (underWay !== undefined) socket.destroy();
    else closeAfterReading(socket);
  };
}
