import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { HttpServer } from '@hearth/http-server';
import { hostRegistration } from '../testing/api-fixtures.js';
import { buildTestApp } from '../testing/test-app.js';
import { eachSubschema, requestSchemasOf, typesOf, type OpenApiDocument } from '../testing/request-schemas.js';
import { createWorld, hostCapacity } from '../testing/world.js';

let app: HttpServer;

beforeEach(async () => {
  app = await buildTestApp(createWorld().deps);
});

afterEach(async () => {
  await app.close();
});

interface Problem {
  code: string;
  errors?: Array<{ field: string; message: string }>;
}

function fieldsOf(response: { statusCode: number; json(): unknown }): string[] {
  expect(response.statusCode).toBe(400);
  const problem = response.json() as Problem;
  expect(problem.code).toBe('VALIDATION_FAILED');
  return (problem.errors ?? []).map((error) => error.field);
}

describe('numbers a client sends are range-checked', () => {
  it('answers an event cursor past the largest event id with 400 naming it', async () => {
    const response = await app.inject({ method: 'GET', url: '/v1/events?cursor=100000000000000000000' });
    expect(fieldsOf(response)).toEqual(['querystring/cursor']);
  });

  it('answers a VM event cursor past the largest event id with 400 naming it', async () => {
    const response = await app.inject({
      method: 'GET',
      url: '/v1/vms/vm_01JABCDEFGHJKMNPQRSTVWXYZ0/events?cursor=9007199254740993',
    });
    expect(fieldsOf(response)).toEqual(['querystring/cursor']);
  });

  it('answers a Last-Event-ID that is no event id with 400 naming the header', async () => {
    for (const value of ['100000000000000000000', 'abc', '-1']) {
      const response = await app.inject({ method: 'GET', url: '/v1/events/stream', headers: { 'last-event-id': value } });
      expect(fieldsOf(response)).toEqual(['headers/last-event-id']);
    }
  });

  it('answers a host capacity past any real machine with 400 naming the field', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/hosts/register',
      payload: hostRegistration({ capacity: hostCapacity({ memoryMibTotal: 1e20 }) }),
    });
    expect(fieldsOf(response)).toEqual(['body/capacity/memoryMibTotal']);
  });

  it('gives every number of every request schema a minimum and a maximum', async () => {
    const spec = (await app.inject({ method: 'GET', url: '/openapi.json' })).json<OpenApiDocument>();
    const unbounded: string[] = [];
    for (const { where, schema } of requestSchemasOf(spec)) {
      eachSubschema(schema, where, (node, path) => {
        const types = typesOf(node);
        if (!types.includes('integer') && !types.includes('number')) return;
        if (typeof node['minimum'] !== 'number' || typeof node['maximum'] !== 'number') unbounded.push(path);
      });
    }
    expect(unbounded).toEqual([]);
  });
});
