import { Type } from 'typebox';
import type { HttpServer } from '@hearth/http-server';
import { problemResponses } from '../schemas/common.js';

/** Throws (DATABASE_UNAVAILABLE) when the Manager cannot serve requests. */
export type ReadinessCheck = () => Promise<void>;

export function registerHealthRoutes(app: HttpServer, checkReadiness: ReadinessCheck): void {
  app.get(
    '/healthz',
    {
      config: { auth: 'public', rateLimit: false },
      schema: {
        operationId: 'getHealth',
        summary: 'Liveness: the process answers',
        tags: ['health'],
        security: [],
        response: { 200: Type.Object({ status: Type.Literal('ok') }), ...problemResponses },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      config: { auth: 'public', rateLimit: false },
      schema: {
        operationId: 'getReadiness',
        summary: 'Readiness: the database answers',
        tags: ['health'],
        security: [],
        response: { 200: Type.Object({ status: Type.Literal('ready') }), ...problemResponses },
      },
    },
    async () => {
      await checkReadiness();
      return { status: 'ready' as const };
    },
  );
}
