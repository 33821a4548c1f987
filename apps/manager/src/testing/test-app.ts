import type { InjectOptions } from 'fastify';
import { createLogger, type HttpServer } from '@hearth/http-server';
import { AppError } from '@hearth/errors';
import type { ConcurrencyLimit } from '../application/concurrency-limiter.js';
import type { UseCaseDependencies } from '../application/dependencies.js';
import { buildApp } from '../build-app.js';
import { defaultIdempotencyOptions, type IdempotencyOptions } from '../http/idempotency.js';
import { defaultEventStreamOptions, type EventStreamOptions } from '../http/routes/event-routes.js';
import type { ReconcilerRole } from '../http/routes/system-routes.js';
import type { ConsoleSessionLimits } from '../http/console-bridge.js';
import type { ManagerMetricsExposition } from '../http/routes/metrics-routes.js';
import { testAdminSecret } from './world.js';

/** The admin token's header, for requests that do not go through `inject` (event streams over a socket). */
export const adminHeaders: Readonly<Record<string, string>> = Object.freeze({ authorization: `Bearer ${testAdminSecret}` });

export interface TestAppOptions {
  /** Makes `/readyz` fail as if the database were down. */
  readonly isDatabaseDown?: boolean;
  /** How often the event stream sends its keep-alive comment (default 15 s). */
  readonly eventStreamHeartbeatMs?: number;
  /** Event stream limits and caps (default: the Manager's defaults). */
  readonly eventStream?: Partial<EventStreamOptions>;
  /** Caps on pending waits (default: the Manager's defaults). */
  readonly vmWaits?: ConcurrencyLimit;
  /** Caps on console sessions (default: the Manager's defaults). */
  readonly consoleSessions?: ConsoleSessionLimits;
  /** What `GET /v1/system` says about the reconciler (default: disabled). */
  readonly reconcilerRole?: ReconcilerRole;
  /** Changes to how `Idempotency-Key`s are kept. */
  readonly idempotency?: Partial<IdempotencyOptions>;
  /** Requests one token (or address) may make a minute (default: the Manager's default). */
  readonly rateLimitPerMinute?: number;
  /** What `GET /metrics` exposes (default: a registry of the app's own). */
  readonly metrics?: ManagerMetricsExposition;
  /** The web console's files to serve at `/` (default: none). */
  readonly consoleFiles?: ReadonlyMap<string, Buffer>;
  /** When request and response schemas are compiled (default: lazily, as the Manager does). */
  readonly compileSchemas?: 'lazily' | 'at-start';
}

/**
 * The real HTTP app over the given dependencies (fakes, usually), with a silent logger. Its
 * `inject` sends the world's admin token unless a request sets its own `authorization` header
 * (`authorization: ''` sends none), so that tests of other things need not repeat it.
 */
export async function buildTestApp(dependencies: UseCaseDependencies, options: TestAppOptions = {}): Promise<HttpServer> {
  const app = await buildApp({
    logger: createLogger({ name: 'manager-test', level: 'silent' }),
    dependencies,
    ...(options.reconcilerRole === undefined ? {} : { reconcilerRole: () => options.reconcilerRole! }),
    ...(options.idempotency === undefined ? {} : { idempotency: { ...defaultIdempotencyOptions, ...options.idempotency } }),
    eventStream: {
      ...defaultEventStreamOptions,
      ...options.eventStream,
      ...(options.eventStreamHeartbeatMs === undefined ? {} : { heartbeatMs: options.eventStreamHeartbeatMs }),
    },
    ...(options.vmWaits === undefined ? {} : { vmWaits: options.vmWaits }),
    ...(options.consoleSessions === undefined ? {} : { consoleSessions: options.consoleSessions }),
    ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
    ...(options.consoleFiles === undefined ? {} : { consoleFiles: options.consoleFiles }),
    ...(options.compileSchemas === undefined ? {} : { compileSchemas: options.compileSchemas }),
    ...(options.rateLimitPerMinute === undefined ? {} : { rateLimit: { perMinute: options.rateLimitPerMinute } }),
    checkReadiness: async () => {
      if (options.isDatabaseDown === true) throw new AppError('DATABASE_UNAVAILABLE', 'The database cannot be reached');
    },
  });
  await app.ready();
  const inject = app.inject.bind(app);
  const injectWithToken = (options: InjectOptions) => {
    const headers = { authorization: `Bearer ${testAdminSecret}`, ...options.headers };
    if (headers.authorization === '') delete (headers as Record<string, unknown>).authorization;
    return inject({ ...options, headers });
  };
  app.inject = injectWithToken as typeof app.inject;
  return app;
}
