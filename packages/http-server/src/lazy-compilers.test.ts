import { afterEach, describe, expect, it } from 'vitest';
import { createHttpServer, type HttpServer } from './create-http-server.js';
import { createLogger } from './logger.js';

let app: HttpServer | undefined;

afterEach(async () => {
  await app?.close();
  app = undefined;
});

function serverWithItemRoute(compileSchemas: 'lazily' | 'at-start', bodySchema: object): HttpServer {
  app = createHttpServer({ logger: createLogger({ name: 'test', level: 'silent' }), compileSchemas });
  app.post(
    '/items',
    {
      schema: {
        body: bodySchema,
        response: { 200: { type: 'object', properties: { name: { type: 'string' } }, additionalProperties: false } },
      },
    },
    async (request) => ({ ...(request.body as { name?: string }), secret: 'not in the response schema' }) as { name?: string },
  );
  return app;
}

const itemBody = {
  type: 'object',
  properties: { name: { type: 'string', maxLength: 8 } },
  required: ['name'],
  additionalProperties: false,
};

describe.each(['lazily', 'at-start'] as const)('schemas compiled %s', (compileSchemas) => {
  it('validate each request and shape each answer as the route declares, request after request', async () => {
    const server = serverWithItemRoute(compileSchemas, itemBody);
    await server.ready();
    for (let round = 0; round < 2; round += 1) {
      const ok = await server.inject({ method: 'POST', url: '/items', payload: { name: 'disk' } });
      expect(ok.statusCode).toBe(200);
      // The serializer drops what the response schema does not name.
      expect(ok.json()).toEqual({ name: 'disk' });
      const refused = await server.inject({ method: 'POST', url: '/items', payload: { name: 'far too long', extra: 1 } });
      expect(refused.statusCode).toBe(400);
      expect(refused.headers['content-type']).toContain('application/problem+json');
      const fields = (refused.json() as { errors: { field: string }[] }).errors.map((error) => error.field).sort();
      expect(fields).toEqual(['body/extra', 'body/name']);
    }
  });
});

describe('a schema that cannot compile', () => {
  const broken = { type: 'object', properties: { name: { type: 'no-such-type' } } };

  it('fails the start when schemas are compiled at start', async () => {
    await expect(serverWithItemRoute('at-start', broken).ready()).rejects.toThrow();
  });

  it('fails only the requests of its route when schemas are compiled lazily, as an internal error', async () => {
    const server = serverWithItemRoute('lazily', broken);
    server.get('/healthz', async () => ({ ok: true }));
    await server.ready();
    expect((await server.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    const answer = await server.inject({ method: 'POST', url: '/items', payload: { name: 'disk' } });
    expect(answer.statusCode).toBe(500);
    expect((answer.json() as { code: string }).code).toBe('INTERNAL');
  });
});
