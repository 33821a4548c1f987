import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { AppError } from '@hearth/errors';
import type { Logger } from './logger.js';
import { acceptOrMakeRequestId, enterCorrelationId, requestIdHeader } from './correlation.js';
import { renderProblem } from './problem-renderer.js';
import { schemaCompiler } from './validation.js';

export interface HttpServerOptions {
  readonly logger: Logger;
  readonly bodyLimitBytes?: number;
  /** Serve HTTPS with these TLS options (e.g. `requestCert` for client certificates); `app.server` is then a `tls.Server`. */
  readonly https?: import('node:https').ServerOptions;
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
 * AsyncLocalStorage), strict validation, RFC 9457 problem responses and one access-log line a request.
 */
export function createHttpServer(options: HttpServerOptions): HttpServer {
  const app = Fastify({
    loggerInstance: options.logger,
    // One access-log line a request, written by the onResponse hook below.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'correlationId' }),
    bodyLimit: options.bodyLimitBytes ?? 1024 * 1024,
    genReqId: (req) => acceptOrMakeRequestId(req.headers[requestIdHeader]),
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    ...(options.https === undefined ? {} : { https: options.https }),
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.setValidatorCompiler(schemaCompiler);

  app.addHook('onRequest', async (request, reply) => {
    enterCorrelationId(request.id);
    reply.header(requestIdHeader, request.id);
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
