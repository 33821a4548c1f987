import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { HttpServer } from '@hearth/http-server';
import { buildTestApp } from '../testing/test-app.js';
import { eachSubschema, requestSchemasOf, typesOf, type OpenApiDocument } from '../testing/request-schemas.js';
import { createWorld } from '../testing/world.js';
import { bodyLimitBytes } from './body-limits.js';

let app: HttpServer;

beforeEach(async () => {
  app = await buildTestApp(createWorld().deps);
});

afterEach(async () => {
  await app.close();
});

const vmId = 'vm_01JABCDEFGHJKMNPQRSTVWXYZ0';
const imageId = 'img_01JABCDEFGHJKMNPQRSTVWXYZ0';

async function requestSchemas(): Promise<ReturnType<typeof requestSchemasOf>> {
  return requestSchemasOf((await app.inject({ method: 'GET', url: '/openapi.json' })).json<OpenApiDocument>());
}

function expectProblem(response: { statusCode: number; headers: Record<string, unknown>; json(): unknown }, status: number) {
  expect(response.statusCode).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  const problem = response.json() as { status: number; code: string; correlationId: string; errors?: { field: string }[] };
  expect(problem.status).toBe(status);
  expect(problem.correlationId).toBe(response.headers['x-request-id']);
  return problem;
}

describe('every request schema bounds what a client can send', () => {
  it('gives every string a maxLength, unless an enum, a const or a format bounds it', async () => {
    const unbounded: string[] = [];
    for (const { where, schema } of await requestSchemas()) {
      eachSubschema(schema, where, (node, path) => {
        if (!typesOf(node).includes('string')) return;
        if ('enum' in node || 'const' in node || 'format' in node) return;
        if (typeof node['maxLength'] !== 'number') unbounded.push(path);
      });
    }
    expect(unbounded).toEqual([]);
  });

  it('gives every array a maxItems', async () => {
    const unbounded: string[] = [];
    for (const { where, schema } of await requestSchemas()) {
      eachSubschema(schema, where, (node, path) => {
        if (typesOf(node).includes('array') && typeof node['maxItems'] !== 'number') unbounded.push(path);
      });
    }
    expect(unbounded).toEqual([]);
  });

  it('declares the headers it reads, so that their limits are checked and documented', async () => {
    const headers = (await requestSchemas()).map((s) => s.where).filter((where) => where.includes(' header/'));
    expect(headers).toEqual(
      expect.arrayContaining([
        'POST /v1/vms header/idempotency-key',
        'POST /v1/vms header/prefer',
        'POST /v1/vms/{id}/stop header/if-match',
        'DELETE /v1/vms/{id} header/if-match',
        'GET /v1/events/stream header/last-event-id',
        'POST /v1/tokens header/idempotency-key',
        'POST /v1/projects header/idempotency-key',
      ]),
    );
  });
});

describe('over-limit requests are refused with a problem', () => {
  it('answers a header over its maxLength with 400 naming the header', async () => {
    const response = await app.inject({
      method: 'POST',
      url: `/v1/vms/${vmId}/stop`,
      headers: { 'if-match': `"1", ${'"2", '.repeat(300)}"3"` },
    });
    const problem = expectProblem(response, 400);
    expect(problem.code).toBe('VALIDATION_FAILED');
    expect(problem.errors?.map((e) => e.field)).toEqual(['headers/if-match']);
  });

  it('answers a query value over its maxLength with 400 naming it', async () => {
    const response = await app.inject({ method: 'GET', url: `/v1/images?name=${'a'.repeat(64)}` });
    expect(expectProblem(response, 400).errors?.map((e) => e.field)).toEqual(['querystring/name']);
  });

  it("answers a body over its route's limit with 413 PAYLOAD_TOO_LARGE before reading it", async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/vms',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ name: 'web', bootArgs: 'x'.repeat(bodyLimitBytes.createVm) }),
    });
    expect(expectProblem(response, 413).code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('answers a body over 1 KiB sent to a route that takes none with 413', async () => {
    for (const [method, url] of [
      ['POST', `/v1/vms/${vmId}/stop`],
      ['DELETE', `/v1/images/${imageId}`],
    ] as const) {
      const response = await app.inject({
        method,
        url,
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify({ padding: 'x'.repeat(bodyLimitBytes.none) }),
      });
      expect(expectProblem(response, 413).code).toBe('PAYLOAD_TOO_LARGE');
    }
  });

  it('reads the largest valid body of a route, every character escaped, without refusing its size', async () => {
    // 4096 characters outside the BMP, each written as two \uXXXX escapes: 48 KiB of JSON.
    const hostPath = '\\ud83d\\ude00'.repeat(4096);
    const response = await app.inject({
      method: 'POST',
      url: '/v1/images',
      headers: { 'content-type': 'application/json' },
      payload: `{"kind":"kernel","name":"k","hostPath":"${hostPath}"}`,
    });
    expect(response.statusCode).not.toBe(413);
    expect(response.statusCode).toBeLessThan(500);
  });
});
