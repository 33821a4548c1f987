import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import Fastify, { LogController, type FastifyError, type FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { AppError } from '@hearth/errors';
import type { Logger } from './logger.js';
import { clientErrorHandler } from './client-errors.js';
import { lingerAfterEarlyAnswer } from './lingering-close.js';
import { acceptOrMakeRequestId, enterCorrelationId, requestIdHeader } from './correlation.js';
import { unstorableCharacterOf } from './unstorable-characters.js';
import { renderProblem } from './problem-renderer.js';
import { schemaCompiler } from './validation.js';
import { lazySerializerFactory, lazyValidatorCompiler, serializerFactory } from './lazy-compilers.js';

export interface HttpServerOptions {
  readonly logger: Logger;
  readonly bodyLimitBytes?: number;
  /** Serve HTTPS with these TLS options (e.g. `requestCert` for client certificates); `app.server` is then a `tls.Server`. */
  readonly https?: import('node:https').ServerOptions;
  /**
   * When request validators and response serializers are compiled: `lazily`, on a route's first
   * request (the default: a start costs much less CPU), or `at-start`, as Fastify does (tests use
   * it, so that a schema that cannot compile fails the server's start).
   */
  readonly compileSchemas?: 'lazily' | 'at-start';
  /**
   * Whether each request's correlation id is entered into the AsyncLocalStorage that
   * `currentCorrelationId()` reads (the default). On Node 20 that store, once entered, runs a
   * promise hook for every promise of the process; a server whose code takes the id from the
   * request (`request.id`) where it needs it says false, and the process runs no hook.
   */
  readonly isCorrelationIdStored?: boolean;
}

export type HttpServer = FastifyInstance<
  import('node:http').Server,
  import('node:http').IncomingMessage,
  import('node:http').ServerResponse,
  Logger,
  TypeBoxTypeProvider
>;

/**
 * A Fastify instance with Hearth's conventions: correlation ids (accepted, echoed, kept in
 * AsyncLocalStorage unless `isCorrelationIdStored` is false), strict validation, RFC 9457 problem responses and one access-log line a request.
 */
export function createHttpServer(options: HttpServerOptions): HttpServer {
  // The answer of the request Node has handed over on each connection, until it is done: a parse
  // error in that request's body abandons the request, and writes no second answer after it began.
  const answers = new WeakMap<Socket, ServerResponse>();
  const lazily = options.compileSchemas !== 'at-start';
  const app = Fastify({
    schemaController: { compilersFactory: { buildSerializer: lazily ? lazySerializerFactory : serializerFactory } },
    loggerInstance: options.logger,
    // One access-log line a request, written by the onResponse hook below.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'correlationId' }),
    bodyLimit: options.bodyLimitBytes ?? 1024 * 1024,
    genReqId: (req) => acceptOrMakeRequestId(req.headers[requestIdHeader]),
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // A request without Host reaches the hook below, which refuses it as a problem (Node would answer a bare 400).
    ...(options.https === undefined
      ? { http: { requireHostHeader: false } }
      : { https: { ...options.https, requireHostHeader: false } }),
    clientErrorHandler: clientErrorHandler(options.logger, (socket) => answers.get(socket)),
    // What the router refuses before any route runs (a malformed URL, an over-long path segment).
    // No hook runs for these, so the correlation id is echoed here.
    frameworkErrors: (error, request, reply) => {
      reply.header(requestIdHeader, request.id);
      renderProblem(fromFrameworkError(error), request, reply);
    },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.setValidatorCompiler(lazily ? lazyValidatorCompiler(schemaCompiler) : schemaCompiler);
  app.server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    const socket = request.socket;
    answers.set(socket, response);
    response.once('close', () => {
      if (answers.get(socket) === response) answers.delete(socket);
    });
    lingerAfterEarlyAnswer(request);
  });

  const isCorrelationIdStored = options.isCorrelationIdStored !== false;
  app.addHook('onRequest', async (request, reply) => {
    if (isCorrelationIdStored) enterCorrelationId(request.id);
    reply.header(requestIdHeader, request.id);
    if (request.raw.httpVersion === '1.1' && request.headers.host === undefined) {
      throw new AppError('MALFORMED_REQUEST', 'An HTTP/1.1 request must carry a Host header');
    }
  });

  // Before the schemas: a string with U+0000 or a lone surrogate is refused wherever it is, whatever the schema allows.
  app.addHook('preValidation', async (request) => {
    const found =
      unstorableCharacterOf(request.params, 'params') ??
      unstorableCharacterOf(request.query, 'querystring') ??
      unstorableCharacterOf(request.body, 'body');
    if (found !== undefined) {
      throw new AppError('VALIDATION_FAILED', `Invalid ${found.field.slice(0, found.field.indexOf('/'))}: ${found.field}`, {
        errors: [found],
      });
    }
  });

  app.addHook('onResponse', async (request, reply) => {
    request.log.info(
      {
        method: request.method,
        url: request.url,
        statusCode: reply.statusCode,
        durationMs: Math.round(reply.elapsedTime * 100) / 100,
      },
      'request completed',
    );
  });

  app.setErrorHandler((error, request, reply) => renderProblem(error, request, reply));
  app.setNotFoundHandler((request, reply) =>
    renderProblem(new AppError('ROUTE_NOT_FOUND', `No route ${request.method} ${request.url}`), request, reply),
  );

  return app as unknown as HttpServer;
}

function fromFrameworkError(error: FastifyError): AppError {
  switch (error.code) {
    case 'FST_ERR_BAD_URL':
      return new AppError('MALFORMED_URL', 'The request URL is not well-formed (a bad percent-encoding)');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new AppError('VALIDATION_FAILED', 'Invalid params: a path segment is too long', {
        errors: [{ field: 'params', message: 'a path segment is longer than any id' }],
      });
    default:
      return new AppError('INTERNAL', 'An internal error occurred; see the server log with this correlation id.', {
        cause: error,
      });
  }
}
