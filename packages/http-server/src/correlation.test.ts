import { afterEach, describe, expect, it } from 'vitest';
import { currentCorrelationId } from './correlation.js';
import { createHttpServer, type HttpServer } from './create-http-server.js';
import { createLogger } from './logger.js';

let app: HttpServer | undefined;

afterEach(async () => {
  await app?.close();
  app = undefined;
});

/** A server whose one route answers what `currentCorrelationId()` and `request.id` say. */
function serverTellingIds(isCorrelationIdStored?: boolean): HttpServer {
  app = createHttpServer({
    logger: createLogger({ name: 'test', level: 'silent' }),
    ...(isCorrelationIdStored === undefined ? {} : { isCorrelationIdStored }),
  });
  app.get('/ids', async (request) => {
    await Promise.resolve();
    return { stored: currentCorrelationId() ?? null, request: request.id };
  });
  return app;
}

describe('the correlation id of a request', () => {
  it('is kept for currentCorrelationId() in its handler by default', async () => {
    const response = await serverTellingIds().inject({
      method: 'GET',
      url: '/ids',
      headers: { 'x-request-id': 'req-stored-01' },
    });

    expect(response.json()).toEqual({ stored: 'req-stored-01', request: 'req-stored-01' });
    expect(response.headers['x-request-id']).toBe('req-stored-01');
  });

  it('is on the request alone, and still echoed, when the server does not store it', async () => {
    const response = await serverTellingIds(false).inject({
      method: 'GET',
      url: '/ids',
      headers: { 'x-request-id': 'req-unstored-01' },
    });

    // Not this request's id (a test file run before this one in the same worker may have left another).
    const ids = response.json<{ stored: string | null; request: string }>();
    expect(ids.stored).not.toBe('req-unstored-01');
    expect(ids.request).toBe('req-unstored-01');
    expect(response.headers['x-request-id']).toBe('req-unstored-01');
  });
});
