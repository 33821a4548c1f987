import { afterEach, describe, expect, it, vi } from 'vitest';
import type { HttpServer } from './create-http-server.js';

// Counts the response serializers fast-json-stringify compiles, through Fastify's own factory.
const compiled = vi.hoisted(() => ({ count: 0 }));
vi.mock('@fastify/fast-json-stringify-compiler', async (importOriginal) => {
  type Selector = typeof import('@fastify/fast-json-stringify-compiler').default;
  const original = ((await importOriginal()) as { default: Selector }).default;
  const counting = ((...args: Parameters<Selector>) => {
    const factory = original(...args);
    return ((externalSchemas, options) => {
      const compile = factory(externalSchemas, options);
      return (route) => {
        compiled.count += 1;
        return compile(route);
      };
    }) as ReturnType<Selector>;
  }) as Selector;
  return { default: counting };
});

// Test files share a worker's modules (no isolation between files): load Fastify and the server
// afresh, so they take the counting factory above, not one an earlier file loaded.
vi.resetModules();
const { createHttpServer } = await import('./create-http-server.js');
const { createLogger } = await import('./logger.js');

const servers: HttpServer[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

const itemSchema = { type: 'object', properties: { name: { type: 'string' } }, additionalProperties: false };

function serverAnswering(schema: object, name: string): HttpServer {
  const server = createHttpServer({ logger: createLogger({ name: 'test', level: 'silent' }) });
  servers.push(server);
  server.get('/item', { schema: { response: { 200: schema } } }, async () => ({ name, secret: 'not in the schema' }));
  return server;
}

describe('response serializers compiled lazily', () => {
  it('are compiled once per response schema for every server of the process, each answering its own data', async () => {
    const before = compiled.count;
    const many = Array.from({ length: 5 }, (_, i) => serverAnswering(itemSchema, `item-${i}`));
    for (const [i, server] of many.entries()) {
      const response = await server.inject({ method: 'GET', url: '/item' });
      expect(response.json()).toEqual({ name: `item-${i}` });
    }
    expect(compiled.count - before).toBe(1);
    // Another schema object is compiled for itself.
    const other = serverAnswering({ ...itemSchema }, 'other');
    expect((await other.inject({ method: 'GET', url: '/item' })).json()).toEqual({ name: 'other' });
    expect(compiled.count - before).toBe(2);
  });
});
