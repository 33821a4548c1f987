export { createHttpServer, type HttpServer, type HttpServerOptions } from './create-http-server.js';
export { acceptOrMakeRequestId, currentCorrelationId, requestIdHeader, runWithCorrelationId } from './correlation.js';
export { createLogger, type Logger, type LoggerOptions } from './logger.js';
export { renderProblem, toProblem } from './problem-renderer.js';
export { fieldErrorsFromAjv } from './validation.js';
export {
  createMetricsRegistry,
  durationBucketsSeconds,
  metricsContentType,
  registerRequestMetrics,
  type ProcessMetricsOptions,
  unmatchedRoute,
  type Registry,
} from './metrics.js';
export { serializationSchemaOf } from './serialization-schema.js';
export { responseSerializerOf } from './lazy-compilers.js';
