import rateLimit, { normalizeIP } from '@fastify/rate-limit';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '@hearth/errors';
import type { HttpServer } from '@hearth/http-server';
import { callerOf } from './caller.js';

export interface RateLimitOptions {
  /** Requests one caller may make in a minute; the next one gets 429 RATE_LIMITED until the minute is over. */
  readonly perMinute: number;
}

/** A hook that answers 429 RATE_LIMITED to a caller over its limit (see {@link registerRateLimit}). */
export type RateLimitCheck = (request: FastifyRequest, reply: FastifyReply) => Promise<void>;

const windowMs = 60_000;
const throttled = new WeakSet<FastifyRequest>();

/**
 * Counts each caller's requests a minute (in this process: each replica counts its own) and gives
 * the check that refuses a caller over `perMinute`. A caller is its API token once the request is
 * authenticated, else its client address (an IPv6 address by its /64, which one client usually
 * holds whole): requests without a valid token, to Agent routes or to no route are limited too,
 * so that an anonymous flood cannot fill the audit log faster than the limit. Routes that declare
 * `config.rateLimit: false` (the health probes) are never limited. Answers carry
 * `x-ratelimit-limit`, `-remaining` and `-reset`; a refusal carries `Retry-After` in seconds.
 */
export async function registerRateLimit(app: HttpServer, options: RateLimitOptions): Promise<RateLimitCheck> {
  await app.register(rateLimit, { global: false });
  const check = app.createRateLimit({
    max: options.perMinute,
    timeWindow: windowMs,
    keyGenerator: (request) => (request.principal === undefined ? `addr:${normalizeIP(request.ip)}` : callerOf(request)),
    allowList: (request) => request.routeOptions.config?.rateLimit === false,
  });
  return async (request, reply) => {
    const limit = await check(request);
    if (limit.isAllowed) return;
    reply.header('x-ratelimit-limit', limit.max);
    reply.header('x-ratelimit-remaining', limit.remaining);
    reply.header('x-ratelimit-reset', limit.ttlInSeconds);
    if (!limit.isExceeded) return;
    throttled.add(request);
    reply.header('retry-after', limit.ttlInSeconds);
    throw new AppError('RATE_LIMITED', `More than ${limit.max} requests in a minute: retry in ${limit.ttlInSeconds} s`, {
      details: { limitPerMinute: limit.max, retryAfterSeconds: limit.ttlInSeconds },
    });
  };
}

/** True when the rate limit refused the request (it did nothing, so the audit log leaves it out). */
export function isThrottled(request: FastifyRequest): boolean {
  return throttled.has(request);
}
