import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { HttpServer } from '@hearth/http-server';
import type { InMemoryAuditLog } from '../adapters/fake/in-memory-audit-log.js';
import { buildTestApp } from '../testing/test-app.js';
import { createWorld, type World } from '../testing/world.js';

const limit = 3;

let world: World;
let app: HttpServer;

beforeEach(async () => {
  world = createWorld();
  app = await buildTestApp(world.deps, { rateLimitPerMinute: limit });
});

afterEach(async () => {
  await app.close();
});

/** `GET /v1/vms` with the admin token, or with `authorization` as the header ('' for none). */
function listVms(authorization?: string) {
  return app.inject({ method: 'GET', url: '/v1/vms', ...(authorization === undefined ? {} : { headers: { authorization } }) });
}

async function spend(count: number, authorization?: string): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < count; i += 1) statuses.push((await listVms(authorization)).statusCode);
  return statuses;
}

describe('the rate limit', () => {
  it("answers a token's request past its limit with 429 RATE_LIMITED, Retry-After and a correlation id", async () => {
    expect(await spend(limit)).toEqual([200, 200, 200]);
    const response = await listVms();
    expect(response.statusCode).toBe(429);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    const retryAfter = Number(response.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    const problem = response.json<{ status: number; code: string; correlationId: string; details: unknown }>();
    expect(problem).toMatchObject({ status: 429, code: 'RATE_LIMITED', details: { limitPerMinute: limit } });
    expect(problem.correlationId).toBe(response.headers['x-request-id']);
  });

  it('counts each token on its own', async () => {
    await spend(limit + 1);
    const other = await world.mintToken({ name: 'other', scopes: ['vms:read'] });
    expect(await spend(limit, `Bearer ${other}`)).toEqual([200, 200, 200]);
  });

  it('never limits /healthz and /readyz, nor counts them against anybody', async () => {
    for (let i = 0; i < limit * 3; i += 1) {
      for (const url of ['/healthz', '/readyz']) {
        expect((await app.inject({ method: 'GET', url, headers: { authorization: '' } })).statusCode).toBe(200);
      }
    }
    expect(await spend(limit)).toEqual([200, 200, 200]);
  });

  it('limits requests without a valid token per client address, and leaves the throttled ones out of the audit log', async () => {
    const audit = world.deps.audit as InMemoryAuditLog;
    expect(await spend(limit, '')).toEqual([401, 401, 401]);
    expect(await spend(2, 'Bearer hth_unknown')).toEqual([429, 429]);
    expect(audit.entries.map((entry) => entry.statusCode)).toEqual([401, 401, 401]);
    expect(await spend(1)).toEqual([200]);
  });
});
