import { Type } from 'typebox';
import { metricsContentType, registerRequestMetrics, type HttpServer, type Registry } from '@hearth/http-server';
import { problemResponses } from '../schemas/common.js';

/** The Manager's metrics as the HTTP layer needs them: a registry to expose, and the gauges it feeds. */
export interface ManagerMetricsExposition {
  readonly registry: Registry;
  /** Feeds `hearth_event_stream_clients` from the event routes. */
  watchEventStreams(open: () => number): void;
}

/**
 * `GET /metrics` in the Prometheus text format, for a token with `metrics:read` (which `hosts:admin`
 * grants), and the request histogram every route feeds.
 */
export function registerMetricsRoutes(app: HttpServer, registry: Registry): void {
  registerRequestMetrics(app, registry);
  app.get(
    '/metrics',
    {
      config: { auth: { scope: 'metrics:read' } },
      schema: {
        operationId: 'getMetrics',
        summary: 'Prometheus metrics of this Manager replica (text exposition format; catalog in docs/metrics.md)',
        tags: ['system'],
        produces: ['text/plain'],
        response: {
          200: { description: 'Prometheus text exposition format 0.0.4', content: { 'text/plain': { schema: Type.String() } } },
          ...problemResponses,
        },
      },
    },
    async (_request, reply) => {
      const text = await registry.metrics();
      return reply.type(metricsContentType).send(text);
    },
  );
}
