import { createHash, randomUUID } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { AppError } from '@hearth/errors';
import { failpoint } from '@hearth/failpoints';
import type { HttpServer } from '@hearth/http-server';
import type { UseCaseDependencies } from '../application/dependencies.js';
import type { IdempotencyScope } from '../application/ports/idempotency-repository.js';
import { callerOf } from './caller.js';

export const idempotencyKeyHeader = 'idempotency-key';
/** Set on a response replayed for a retried request. */
export const idempotentReplayedHeader = 'idempotent-replayed';

export interface IdempotencyOptions {
  /** How long a key and its response are kept (24 h). */
  readonly ttlMs: number;
  /**
   * How long a claim holds without renewal. The request renews it every third of this while it
   * runs; when its process dies the key is free again at most this long after the last renewal.
   */
  readonly leaseMs: number;
  /** How long a retry waits for the first request with its key to finish before IDEMPOTENCY_KEY_IN_USE. */
  readonly inProgressWaitMs: number;
  /** How many unexpired keys one caller may hold; one more is 429 IDEMPOTENCY_KEY_LIMIT_REACHED. */
  readonly maxKeysPerCaller: number;
}

export const defaultIdempotencyOptions: IdempotencyOptions = Object.freeze({
  ttlMs: 24 * 60 * 60 * 1000,
  leaseMs: 10_000,
  inProgressWaitMs: 30_000,
  maxKeysPerCaller: 10_000,
});

/** Response headers replayed with the stored body. */
const replayedHeaders = ['content-type', 'etag', 'location', 'preference-applied'];
const keyPattern = /^[\x21-\x7E]{1,255}$/;
const expiredCleanupIntervalMs = 60_000;

interface HeldClaim {
  readonly scope: IdempotencyScope;
  readonly claimId: string;
  readonly renewal: NodeJS.Timeout;
}

/**
 * `Idempotency-Key` on every POST to a route of the API (an unknown route keeps nothing): the first
 * request with a key claims it for its caller, route pattern and path parameters (atomically, so of
 * concurrent duplicates exactly one runs) and its response (status, body, ETag, Location) is
 * stored; a retry gets that response again, marked `Idempotent-Replayed: true`. The same key with
 * another body or query is IDEMPOTENCY_KEY_REUSED (409); while the first request still runs a retry
 * waits for it, then answers IDEMPOTENCY_KEY_IN_USE (409). The claim is a lease the running request
 * renews: if its process dies, the key is free again once the lease runs out. 5xx answers are not
 * kept: the key is released so the request can be retried. Keys expire after `ttlMs`; a caller
 * holding `maxKeysPerCaller` keys gets 429 IDEMPOTENCY_KEY_LIMIT_REACHED for a new one.
 */
export function registerIdempotency(
  app: HttpServer,
  deps: Pick<UseCaseDependencies, 'idempotency' | 'clock' | 'log'>,
  options: IdempotencyOptions = defaultIdempotencyOptions,
): void {
  const claimed = new WeakMap<FastifyRequest, HeldClaim>();
  let lastCleanupAt = 0;
  const leaseUntil = (): Date => new Date(deps.clock.now().getTime() + options.leaseMs);

  app.addHook('preHandler', async (request, reply) => {
    if (request.method !== 'POST') return;
    const key = parseKey(request.headers[idempotencyKeyHeader]);
    // Only a route of the API: a 404 for an unknown path is no request worth remembering.
    const route = request.routeOptions.url;
    if (key === undefined || route === undefined || request.is404) return;
    const scope: IdempotencyScope = {
      caller: callerOf(request),
      key,
      method: request.method,
      route,
      params: JSON.stringify(canonical(request.params ?? {})),
    };
    const fingerprint = fingerprintOf(request);
    const deadline = Date.now() + options.inProgressWaitMs;
    for (let delayMs = 25; ; delayMs = Math.min(delayMs * 2, 1_000)) {
      const now = deps.clock.now();
      if (now.getTime() - lastCleanupAt > expiredCleanupIntervalMs) {
        lastCleanupAt = now.getTime();
        await deps.idempotency.deleteExpired(now);
      }
      const claimId = randomUUID();
      const result = await deps.idempotency.claim(scope, {
        claimId,
        fingerprint,
        at: now,
        expiresAt: new Date(now.getTime() + options.ttlMs),
        leaseExpiresAt: new Date(now.getTime() + options.leaseMs),
        maxKeysPerCaller: options.maxKeysPerCaller,
      });
      if (result.kind === 'claimed') {
        failpoint('manager.idempotency.after-claim');
        const renewal = setInterval(
          () => {
            deps.idempotency.renew(scope, claimId, leaseUntil()).then(
              (isHeld) => {
                if (!isHeld) deps.log.warn({ idempotencyKey: key }, 'idempotency key lease was lost');
              },
              (error: unknown) =>
                deps.log.warn({ err: error, idempotencyKey: key }, 'idempotency key lease could not be renewed'),
            );
          },
          Math.max(1, Math.floor(options.leaseMs / 3)),
        );
        renewal.unref();
        claimed.set(request, { scope, claimId, renewal });
        return;
      }
      if (result.kind === 'over_limit') {
        throw new AppError(
          'IDEMPOTENCY_KEY_LIMIT_REACHED',
          `This client holds ${options.maxKeysPerCaller} idempotency keys; send the request without one or retry once older keys expire`,
          { details: { maxKeysPerCaller: options.maxKeysPerCaller } },
        );
      }
      if (result.existing.fingerprint !== fingerprint) {
        throw new AppError(
          'IDEMPOTENCY_KEY_REUSED',
          `Idempotency-Key ${key} was used for a different ${scope.method} ${scope.route}`,
          {
            details: { idempotencyKey: key },
          },
        );
      }
      const stored = result.existing.response;
      if (stored !== undefined) {
        reply.status(stored.statusCode).headers({ ...stored.headers, [idempotentReplayedHeader]: 'true' });
        return reply.send(stored.body);
      }
      if (Date.now() + delayMs > deadline) {
        throw new AppError('IDEMPOTENCY_KEY_IN_USE', `A request with Idempotency-Key ${key} is still in progress`, {
          details: { idempotencyKey: key },
        });
      }
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  });

  app.addHook('onSend', async (request, reply, payload) => {
    const held = claimed.get(request);
    if (held === undefined) return payload;
    claimed.delete(request);
    clearInterval(held.renewal);
    const { scope, claimId } = held;
    const body = typeof payload === 'string' ? payload : Buffer.isBuffer(payload) ? payload.toString('utf8') : undefined;
    try {
      if (reply.statusCode >= 500 || body === undefined) {
        await deps.idempotency.release(scope, claimId);
      } else {
        const headers: Record<string, string> = {};
        for (const name of replayedHeaders) {
          const value = reply.getHeader(name);
          if (value !== undefined) headers[name] = String(value);
        }
        await deps.idempotency.complete(scope, claimId, { statusCode: reply.statusCode, headers, body }, deps.clock.now());
      }
    } catch (error) {
      // The response itself is fine; a retry finds the key claimed until its lease runs out.
      deps.log.warn({ err: error, idempotencyKey: scope.key }, 'idempotency key could not be completed');
    }
    return payload;
  });
}

function parseKey(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  const value = Array.isArray(header) ? header.join(',') : header.trim();
  if (!keyPattern.test(value)) {
    throw new AppError('VALIDATION_FAILED', 'Invalid headers: idempotency-key', {
      errors: [{ field: 'headers/idempotency-key', message: 'must be 1-255 visible ASCII characters' }],
    });
  }
  return value;
}

/** The parts of a request that must be equal for a retry: query, body and `Prefer`. */
function fingerprintOf(request: FastifyRequest): string {
  const material = JSON.stringify([request.query ?? null, canonical(request.body ?? null), request.headers.prefer ?? null]);
  return createHash('sha256').update(material).digest('hex');
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, v]) => [k, canonical(v)]),
    );
  }
  return value;
}
