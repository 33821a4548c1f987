import { collectDefaultMetrics, Histogram, Registry } from 'prom-client';
import type { HttpServer } from './create-http-server.js';

/**
 * Buckets for durations, in seconds: from 1 ms (a request served from memory, a step that found its
 * effect in place) to 30 s (a create waiting on a slow host).
 */
export const durationBucketsSeconds: readonly number[] = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];

/** `text/plain; version=0.0.4`: the Prometheus text exposition format. */
export const metricsContentType = Registry.PROMETHEUS_CONTENT_TYPE;

/** What a registry collects of the process itself. */
export interface ProcessMetricsOptions {
  /** The standard process and Node.js metrics (`process_*`, `nodejs_*`); false for apps built for a test, many to a process. */
  readonly isProcessCollected: boolean;
  /**
   * How often the event loop's delay is sampled for `nodejs_eventloop_lag_*` (prom-client's default
   * 10 ms). Each sample is a timer that wakes the process: 100 a second cost an idle Node process
   * about 4 ms of CPU a second, 10 about 0.5 ms. A delay shorter than the interval is seen only when
   * it covers a sample's due time.
   */
  readonly eventLoopSampleIntervalMs?: number;
}

/** A registry of this process's metrics, with the standard process and Node.js ones unless `isProcessCollected` is false. */
export function createMetricsRegistry(options: ProcessMetricsOptions = { isProcessCollected: true }): Registry {
  const registry = new Registry();
  if (options.isProcessCollected) {
    collectDefaultMetrics({
      register: registry,
      ...(options.eventLoopSampleIntervalMs === undefined
        ? {}
        : { eventLoopMonitoringPrecision: options.eventLoopSampleIntervalMs }),
    });
  }
  return registry;
}

/** Route label of requests that matched no route: the raw URL would make one series per URL. */
export const unmatchedRoute = 'unmatched';

/**
 * `hearth_http_request_duration_seconds{method,route,status_code}`: every answered request, labelled
 * by the route's pattern (`/v1/vms/:id`, never the URL itself) so that the series stay bounded.
 */
export function registerRequestMetrics(app: HttpServer, registry: Registry): void {
  const histogram = new Histogram({
    name: 'hearth_http_request_duration_seconds',
    help: 'Time from request received to answer sent, by method, route pattern and status code',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [...durationBucketsSeconds],
    registers: [registry],
  });
  // A callback hook: an async one would cost a promise per request.
  app.addHook('onResponse', (request, reply, done) => {
    histogram.observe(
      { method: request.method, route: request.routeOptions.url ?? unmatchedRoute, status_code: reply.statusCode },
      reply.elapsedTime / 1000,
    );
    done();
  });
}

export type { Registry } from 'prom-client';
