import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { ErrorObject } from 'ajv';
import { AppError, httpStatusByKind, isAppError, problemContentType, problemTypeUri, type Problem } from '@hearth/errors';
import { fieldErrorsFromAjv } from './validation.js';

/** Maps what Fastify itself throws (before our handlers run) onto our codes. */
function fromFastifyError(error: FastifyError): AppError | undefined {
  if (error.validation !== undefined) {
    const part = error.validationContext ?? 'body';
    const errors = fieldErrorsFromAjv(error.validation as unknown as ErrorObject[], part);
    const names = errors.map((e) => e.field).join(', ');
    return new AppError('VALIDATION_FAILED', `Invalid ${part}: ${names}`, { errors });
  }
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new AppError('MALFORMED_JSON', error.message);
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new AppError('PAYLOAD_TOO_LARGE', error.message);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new AppError('UNSUPPORTED_MEDIA_TYPE', error.message);
    default:
      break;
  }
  if (error instanceof SyntaxError) return new AppError('MALFORMED_JSON', error.message);
  if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
    return new AppError('VALIDATION_FAILED', error.message);
  }
  return undefined;
}

export function toProblem(error: AppError, correlationId: string): Problem {
  return {
    type: problemTypeUri(error.code),
    title: error.title,
    status: httpStatusByKind[error.kind],
    detail: error.message,
    code: error.code,
    correlationId,
    ...(error.errors === undefined ? {} : { errors: error.errors }),
    ...(error.details === undefined ? {} : { details: error.details }),
  };
}

/** The one place where errors become HTTP responses. Unknown errors are logged here, once. */
export function renderProblem(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  let appError: AppError;
  if (isAppError(error)) {
    appError = error;
  } else {
    const translated = fromFastifyError(error as FastifyError);
    if (translated === undefined) {
      request.log.error({ err: error }, 'unhandled error');
      appError = new AppError('INTERNAL', 'An internal error occurred; see the server log with this correlation id.');
    } else {
      appError = translated;
    }
  }
  const isServerFault = appError.kind === 'internal' || appError.kind === 'bad_gateway';
  if (isAppError(error) && (isServerFault || error.diagnostics !== undefined)) {
    // What the caller is not shown (command lines, stderr, paths, addresses) is logged here, once,
    // under the correlation id the problem carries.
    const fields = { err: error, code: error.code, diagnostics: error.diagnostics };
    if (isServerFault) request.log.error(fields, 'request failed');
    else request.log.warn(fields, 'request failed');
  }
  const problem = toProblem(appError, request.id);
  const retryAfterSeconds = appError.details?.['retryAfterSeconds'];
  if (typeof retryAfterSeconds === 'number' && Number.isSafeInteger(retryAfterSeconds) && retryAfterSeconds >= 0) {
    reply.header('retry-after', String(retryAfterSeconds));
  }
  return reply.status(problem.status).type(problemContentType).send(problem);
}
