import { createHttpServer, metricsContentType, type HttpServer, type Logger, type Registry } from '@hearth/http-server';

/** The Agent's metrics as HTTP serves them: the registry, and what must run before each scrape. */
export interface AgentMetricsExposition {
  readonly registry: Registry;
  /** Brings the per-VM counters up to now (every VMM flushes its metrics). */
  refresh(): Promise<void>;
}

/** `GET /metrics`: the Prometheus text format. */
export function registerMetricsRoute(app: HttpServer, exposition: AgentMetricsExposition): void {
  app.get('/metrics', async (_request, reply) => {
    await exposition.refresh();
    const text = await exposition.registry.metrics();
    return reply.type(metricsContentType).send(text);
  });
}

/**
 * The plain-HTTP listener that serves only `GET /metrics`, for a Prometheus on the same host
 * (`AGENT_METRICS_BIND`, loopback only: ADR 0060). The Agent's API stays behind mutual TLS.
 */
export function createAgentMetricsApp(dependencies: {
  readonly logger: Logger;
  readonly metrics: AgentMetricsExposition;
}): HttpServer {
  const app = createHttpServer({ logger: dependencies.logger, bodyLimitBytes: 1024, isCorrelationIdStored: false });
  registerMetricsRoute(app, dependencies.metrics);
  return app;
}
