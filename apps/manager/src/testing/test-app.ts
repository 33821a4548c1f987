import { createLogger, type HttpServer } from '@hearth/http-server';
import { AppError } from '@hearth/errors';
import type { UseCaseDependencies } from '../application/dependencies.js';
import { buildApp } from '../build-app.js';
import { defaultIdempotencyOptions, type IdempotencyOptions } from '../http/idempotency.js';
import type { ReconcilerRole } from '../http/routes/system-routes.js';

export interface TestAppOptions {
  /** Makes `/readyz` fail as if the database were down. */
  readonly isDatabaseDown?: boolean;
  /** How often the event stream sends its keep-alive comment (default 15 s). */
  readonly eventStreamHeartbeatMs?: number;
  /** What `GET /v1/system` says about the reconciler (default: disabled). */
  readonly reconcilerRole?: ReconcilerRole;
  /** Changes to how `Idempotency-Key`s are kept. */
  readonly idempotency?: Partial<IdempotencyOptions>;
}

/** The real HTTP app over the given dependencies (fakes, usually), with a silent logger. */
export async function buildTestApp(dependencies: UseCaseDependencies, options: TestAppOptions = {}): Promise<HttpServer> {
  const app = await buildApp({
    logger: createLogger({ name: 'manager-test', level: 'silent' }),
    dependencies,
    ...(options.reconcilerRole === undefined ? {} : { reconcilerRole: () => options.reconcilerRole! }),
    ...(options.idempotency === undefined ? {} : { idempotency: { ...defaultIdempotencyOptions, ...options.idempotency } }),
    ...(options.eventStreamHeartbeatMs === undefined ? {} : { eventStream: { heartbeatMs: options.eventStreamHeartbeatMs } }),
    checkReadiness: async () => {
      if (options.isDatabaseDown === true) throw new AppError('DATABASE_UNAVAILABLE', 'The database cannot be reached');
    },
  });
  await app.ready();
  return app;
}
