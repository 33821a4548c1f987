import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HttpServer } from '@hearth/http-server';
import { buildTestApp } from '../testing/test-app.js';
import { createWorld } from '../testing/world.js';
import { publicPaths } from './openapi-document.js';

interface Operation {
  readonly operationId?: string;
  readonly security?: readonly unknown[];
  readonly responses: Readonly<Record<string, { readonly content?: Readonly<Record<string, { schema: unknown }>> }>>;
}
interface Document {
  readonly openapi: string;
  readonly servers?: readonly unknown[];
  readonly security?: readonly unknown[];
  readonly paths: Readonly<Record<string, Readonly<Record<string, Operation>>>>;
}

let app: HttpServer;
let text: string;
let document: Document;

beforeAll(async () => {
  // Every route's request and response schemas compiled at start: one that cannot compile fails here,
  // not on a route's first request in production (where they compile lazily).
  app = await buildTestApp(createWorld().deps, { compileSchemas: 'at-start' });
  text = (await app.inject({ method: 'GET', url: '/openapi.json', headers: { authorization: '' } })).body;
  document = JSON.parse(text) as Document;
});

afterAll(async () => {
  await app.close();
});

function operations(): { where: string; path: string; operation: Operation }[] {
  return Object.entries(document.paths).flatMap(([path, byMethod]) =>
    Object.entries(byMethod).map(([method, operation]) => ({ where: `${method.toUpperCase()} ${path}`, path, operation })),
  );
}

describe('the OpenAPI document', () => {
  it('is OpenAPI 3.1 with a server and a bearer scheme applied to every operation', () => {
    expect(document.openapi).toBe('3.1.0');
    expect(document.servers).not.toHaveLength(0);
    expect(document.security).toEqual([{ bearer: [] }]);
  });

  it('names every operation with a unique camelCase verbNoun operationId', () => {
    const ids = operations().map(({ where, operation }) => ({ where, id: operation.operationId }));
    expect(ids.filter(({ id }) => id === undefined || !/^[a-z]+(?:[A-Z][a-z0-9]*)+$/.test(id))).toEqual([]);
    const seen = new Set(ids.map(({ id }) => id));
    expect(seen.size).toBe(ids.length);
  });

  it('documents a problem+json answer to a refused request on every operation', () => {
    const missing = operations()
      .filter(({ operation }) => operation.responses['4XX']?.content?.['application/problem+json'] === undefined)
      .map(({ where }) => where);
    expect(missing).toEqual([]);
  });

  it('lets only the public routes be called without a token', () => {
    const withoutToken = operations()
      .filter(({ operation }) => operation.security !== undefined && operation.security.length === 0)
      .map(({ path }) => path);
    expect(withoutToken.sort()).toEqual([...publicPaths].sort());
  });

  it('is the one committed for the SDK (`npm run openapi` writes it)', async () => {
    await expect(`${JSON.stringify(document, null, 2)}\n`).toMatchFileSnapshot('../../../../packages/sdk/openapi.json');
  });
});
