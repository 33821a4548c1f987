import websocket, { type WebsocketPluginOptions } from '@fastify/websocket';
import { AppError } from '@hearth/errors';
import { consoleClosedFrame, consoleSubprotocol } from '@hearth/contracts';
import { registerConsoleRoutes } from './http/routes/console-routes.js';
import type { ConsoleSessionLimits } from './http/console-bridge.js';
import swagger from '@fastify/swagger';
import { createHttpServer, createMetricsRegistry, type HttpServer, type Logger } from '@hearth/http-server';
import { Authenticator } from './application/authenticator.js';
import type { ConcurrencyLimit } from './application/concurrency-limiter.js';
import type { UseCaseDependencies } from './application/dependencies.js';
import { defaultRateLimitPerMinute } from './config.js';
import { Type } from 'typebox';
import { openApiOptions } from './http/openapi-document.js';
import { problemResponses } from './http/schemas/common.js';
import { registerAuditLog } from './http/audit.js';
import { registerAuthentication } from './http/authentication.js';
import { bodyLimitBytes } from './http/body-limits.js';
import { registerRateLimit, type RateLimitOptions } from './http/rate-limit.js';
import { registerAuditRoutes } from './http/routes/audit-routes.js';
import { registerWebConsoleRoutes } from './http/routes/web-console-routes.js';
import { registerIdempotency, type IdempotencyOptions } from './http/idempotency.js';
import { registerEventRoutes, type EventStreamOptions } from './http/routes/event-routes.js';
import { registerHealthRoutes, type ReadinessCheck } from './http/routes/health-routes.js';
import { registerHostRoutes } from './http/routes/host-routes.js';
import { registerImageRoutes } from './http/routes/image-routes.js';
import { registerMetricsRoutes, type ManagerMetricsExposition } from './http/routes/metrics-routes.js';
import { registerSnapshotRoutes } from './http/routes/snapshot-routes.js';
import { registerTemplateRoutes } from './http/routes/template-routes.js';
import { registerTokenRoutes } from './http/routes/token-routes.js';
import { registerProjectRoutes } from './http/routes/project-routes.js';
import { registerSystemRoutes, type ReconcilerRole } from './http/routes/system-routes.js';
import { registerVmRoutes } from './http/routes/vm-routes.js';

/**
 * The WebSocket server of the console routes: frames from clients of at most 64 KiB (a larger one
 * closes the connection with 1009), `hearth.console.v1` selected whenever offered (the token a
 * browser sends as a subprotocol is never echoed), and `shutting_down` told before a close.
 */
function consoleWebSocketOptions(): WebsocketPluginOptions {
  return {
    options: {
      maxPayload: 64 * 1024,
      handleProtocols: (protocols) => (protocols.has(consoleSubprotocol) ? consoleSubprotocol : false),
    },
    preClose(done) {
      for (const client of this.websocketServer.clients) {
        client.send(consoleClosedFrame('shutting_down'));
        client.close(1001, 'shutting_down');
      }
      // Closing handshakes finish on their own; the Manager's shutdown does not wait for slow clients.
      this.websocketServer.close();
      done();
    },
  };
}

/**
 * An upgrade request (`Connection: upgrade`, `Upgrade: websocket`) to a route that is not a
 * WebSocket is refused as a problem, after authentication: left to the WebSocket plugin, it got a
 * bare 400 page from the handshake, or an upgrade closed at once.
 */
function refuseUpgradesOfPlainRoutes(app: HttpServer): void {
  app.addHook('preValidation', async (request) => {
    if (request.ws !== true || request.routeOptions.config.isWebSocket === true) return;
    throw new AppError('MALFORMED_REQUEST', 'This route does not upgrade to a WebSocket: send it without an Upgrade header', {
      details: { header: 'upgrade' },
    });
  });
}

export interface BuildAppOptions {
  readonly logger: Logger;
  readonly dependencies: UseCaseDependencies;
  readonly checkReadiness: ReadinessCheck;
  readonly version?: string;
  readonly eventStream?: EventStreamOptions;
  /** Pending `GET /v1/vms/{id}/wait` calls allowed at once, per client and overall. */
  readonly vmWaits?: ConcurrencyLimit;
  readonly idempotency?: IdempotencyOptions;
  /** Requests one token (or one address without a valid token) may make a minute (default 6000). */
  readonly rateLimit?: RateLimitOptions;
  /** What this replica does for the reconciler, read on each `GET /v1/system` (default: disabled). */
  readonly reconcilerRole?: () => ReconcilerRole;
  /** Caps on serial console sessions (`GET /v1/vms/{id}/console/attach`). */
  readonly consoleSessions?: ConsoleSessionLimits;
  /** `GET /metrics` and the request histogram; absent: a registry of this app's own (HTTP and process metrics). */
  readonly metrics?: ManagerMetricsExposition;
  /** The built web console's files by path (`index.html`, `assets/…`), served at `/`; absent: no console. */
  readonly consoleFiles?: ReadonlyMap<string, Buffer>;
  /** When request and response schemas are compiled (default `lazily`, on each route's first request; see the HTTP server's option). */
  readonly compileSchemas?: 'lazily' | 'at-start';
}

/**
 * The Manager's HTTP app (not listening): the public REST API under `/v1`, `/healthz`, `/readyz`,
 * `GET /openapi.json` describing every route, and the web console's static files at `/` when given.
 * Every route but those three and the console's files needs an API token, and every route but the
 * health probes is rate-limited per token. `main.ts` and the tests build it from here.
 */
export async function buildApp(options: BuildAppOptions): Promise<HttpServer> {
  const app = createHttpServer({
    logger: options.logger,
    bodyLimitBytes: bodyLimitBytes.other,
    ...(options.compileSchemas === undefined ? {} : { compileSchemas: options.compileSchemas }),
  });
  await app.register(swagger, openApiOptions(options.version ?? '0.1.0'));
  await app.register(websocket, consoleWebSocketOptions());
  refuseUpgradesOfPlainRoutes(app);
  const { tokens, clock, log } = options.dependencies;
  const rateLimit = await registerRateLimit(app, options.rateLimit ?? { perMinute: defaultRateLimitPerMinute });
  registerAuthentication(app, new Authenticator({ tokens, clock, log }), { beforeRefusing: rateLimit });
  registerAuditLog(app, options.dependencies);
  const metrics = options.metrics ?? {
    registry: createMetricsRegistry({ isProcessCollected: false }),
    watchEventStreams: () => undefined,
  };
  registerMetricsRoutes(app, metrics.registry);
  registerIdempotency(app, options.dependencies, options.idempotency);
  registerHealthRoutes(app, options.checkReadiness);
  registerImageRoutes(app, options.dependencies);
  registerTemplateRoutes(app, options.dependencies);
  registerSnapshotRoutes(app, options.dependencies);
  registerHostRoutes(app, options.dependencies);
  registerVmRoutes(app, options.dependencies, options.vmWaits);
  registerConsoleRoutes(app, options.dependencies, options.consoleSessions);
  metrics.watchEventStreams(registerEventRoutes(app, options.dependencies, options.eventStream).openStreams);
  registerTokenRoutes(app, options.dependencies);
  registerProjectRoutes(app, options.dependencies);
  registerAuditRoutes(app, options.dependencies);
  registerSystemRoutes(app, options.reconcilerRole ?? (() => 'disabled'));
  if (options.consoleFiles !== undefined) registerWebConsoleRoutes(app, options.consoleFiles);
  app.get(
    '/openapi.json',
    {
      config: { auth: 'public' },
      schema: {
        operationId: 'getOpenApiDocument',
        summary: 'This document: the OpenAPI 3.1 description of every route',
        tags: ['system'],
        security: [],
        response: { 200: Type.Object({}, { additionalProperties: true }), ...problemResponses },
      },
    },
    async () => app.swagger(),
  );
  return app;
}
