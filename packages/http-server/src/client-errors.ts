import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import { AppError, problemContentType } from '@hearth/errors';
import type { Logger } from './logger.js';
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
 */
export function clientErrorHandler(log: Logger): (error: Error & { code?: string }, socket: Socket) => void {
  return (error, socket) => {
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    const appError = clientErrorToAppError(error);
    const problem = toProblem(appError, randomUUID());
    log.debug({ err: error, code: appError.code, correlationId: problem.correlationId }, 'malformed request refused');
    if (socket.writable) {
      // The answer to HEAD has no body, whatever made it fail.
      const rawPacket = (error as { rawPacket?: unknown }).rawPacket;
      const isHead = Buffer.isBuffer(rawPacket) && rawPacket.subarray(0, 5).toString('latin1') === 'HEAD ';
      const body = JSON.stringify(problem);
      socket.write(
        `HTTP/1.1 ${problem.status} ${appError.title}\r\n` +
          `Content-Type: ${problemContentType}; charset=utf-8\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\n` +
          `x-request-id: ${problem.correlationId}\r\n` +
          'Connection: close\r\n\r\n' +
          (isHead ? '' : body),
      );
    }
    socket.destroy();
  };
}
