/**
 * The API thread's request handling (behaviour.md#responses, behaviour.md#logging): log the request, parse it, run it on the
 * VMM, log the outcome and build the response.
 */
import type { HttpRequest } from '../http/parser.js';
import type { ApiResponse } from '../http/response.js';
import { faultResponse } from '../http/response.js';
import type { Logger } from '../logger.js';
import { API } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { VmmError } from '../vmm/errors.js';
import type { Vmm } from '../vmm/vmm.js';
import type { ParsedRequest } from './actions.js';
import { describeRequest } from './describe.js';
import { latencyName, requestCounter } from './request-metrics.js';
import { RequestError } from './request-error.js';
import { route } from './router.js';

export interface ApiHandlerDeps {
  vmm: Vmm;
  logger: Logger;
  metrics: Metrics;
  /** Called after the response to a fatal request was written (snapshot restore failure). */
  onFatal: (exitCode: number) => void;
}

export function createApiHandler(deps: ApiHandlerDeps): (req: HttpRequest) => Promise<ApiResponse> {
  const { logger } = deps;
  return async (req) => {
    const started = process.hrtime.bigint();
    logger.info(API, describeRequest(req, logger.enabled('Debug')));
    let parsed: ParsedRequest;
    try {
      parsed = route(req);
    } catch (err) {
      if (!(err instanceof RequestError)) throw err;
      logger.error(API, err.debug);
      return faultResponse(400, err.message);
    }
    const res = await execute(deps, parsed, started);
    if (parsed.deprecation !== undefined) {
      logger.warn(API, parsed.deprecation);
      deps.metrics.inc('deprecated_api', 'deprecated_http_api_calls');
      res.deprecation = true;
    }
    if (logger.enabled('Debug')) {
      logger.debug(API, `Total previous API call duration: ${(process.hrtime.bigint() - started) / 1000n} us.`);
    }
    return res;
  };
}

async function execute(deps: ApiHandlerDeps, parsed: ParsedRequest, started: bigint): Promise<ApiResponse> {
  const { vmm, logger, metrics } = deps;
  const action = parsed.action;
  try {
    const data = await vmm.dispatch(action);
    const counter = requestCounter(action.kind, false);
    if (counter) metrics.inc(counter[0], counter[1]);
    const latency = latencyName(action);
    if (latency) {
      const us = Number((process.hrtime.bigint() - started) / 1000n);
      metrics.store('latencies_us', latency[0], us);
      logger.info(API, `'${latency[1]}' API request took ${us} us.`);
    }
    if (data === undefined) {
      logger.info(API, 'The request was executed successfully. Status code: 204 No Content.');
      return { status: 204 };
    }
    logger.info(API, 'The request was executed successfully. Status code: 200 OK.');
    return { status: 200, body: JSON.stringify(data) };
  } catch (err) {
    if (!(err instanceof VmmError)) throw err;
    const counter = requestCounter(action.kind, true);
    if (counter) metrics.inc(counter[0], counter[1]);
    const label = err.status === 413 ? '413 Payload too large' : '400 Bad Request';
    logger.error(API, `Received Error. Status code: ${label}. Message: ${err.message}`);
    const res = faultResponse(err.status, err.message);
    if (err.fatal) res.afterWrite = () => deps.onFatal(1);
    return res;
  }
}
