import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { HttpServer } from '@hearth/http-server';
import { buildTestApp } from '../testing/test-app.js';
import { createWorld } from '../testing/world.js';

const indexHtml = '<!doctype html><script type="module" src="/assets/index-abc123.js"></script>';
const script = 'console.log("console")';
const files = new Map([
  ['index.html', Buffer.from(indexHtml)],
  ['assets/index-abc123.js', Buffer.from(script)],
  ['assets/index-def456.css', Buffer.from('body{}')],
]);

let app: HttpServer;

beforeEach(async () => {
  app = await buildTestApp(createWorld().deps, { consoleFiles: files });
});

afterEach(async () => {
  await app.close();
});

describe('the web console', () => {
  it('serves index.html at / without a token, revalidated on every load, under a strict Content-Security-Policy', async () => {
    const response = await app.inject({ method: 'GET', url: '/', headers: { authorization: '' } });
    expect(response.statusCode).toBe(200);
    expect(response.body).toBe(indexHtml);
    expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(response.headers['cache-control']).toBe('no-cache');
    const policy = String(response.headers['content-security-policy']);
    expect(policy).toContain("script-src 'self'");
    expect(policy).not.toMatch(/script-src[^;]*unsafe-inline/);
    expect(policy).toContain("default-src 'none'");
    expect(policy).toContain("frame-ancestors 'none'");
    expect(response.headers['x-content-type-options']).toBe('nosniff');
  });

  it('serves content-hashed assets with their type, cached for a year', async () => {
    const response = await app.inject({ method: 'GET', url: '/assets/index-abc123.js', headers: { authorization: '' } });
    expect(response.statusCode).toBe(200);
    expect(response.body).toBe(script);
    expect(response.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(response.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    const css = await app.inject({ method: 'GET', url: '/assets/index-def456.css', headers: { authorization: '' } });
    expect(css.headers['content-type']).toBe('text/css; charset=utf-8');
  });

  it('answers 304 to a request that already holds the current file', async () => {
    const first = await app.inject({ method: 'GET', url: '/', headers: { authorization: '' } });
    const again = await app.inject({
      method: 'GET',
      url: '/',
      headers: { authorization: '', 'if-none-match': String(first.headers['etag']) },
    });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
  });

  it('answers an unknown asset, or a path outside the assets, with a problem and never a file', async () => {
    for (const url of ['/assets/nope.js', '/assets/..%2Findex.html', '/assets/', '/assets/a%00b.js', '/index.html']) {
      const response = await app.inject({ method: 'GET', url, headers: { authorization: '' } });
      expect(response.statusCode, url).toBeGreaterThanOrEqual(400);
      expect(response.statusCode, url).toBeLessThan(500);
      expect(response.headers['content-type'], url).toMatch(/^application\/problem\+json/);
      expect(response.json<{ correlationId: string }>().correlationId, url).toBe(response.headers['x-request-id']);
    }
  });

  it('leaves the API as it was: a request without a token is still refused, and the document lists no console route', async () => {
    const vms = await app.inject({ method: 'GET', url: '/v1/vms', headers: { authorization: '' } });
    expect(vms.statusCode).toBe(401);
    const health = await app.inject({ method: 'GET', url: '/healthz', headers: { authorization: '' } });
    expect(health.json()).toEqual({ status: 'ok' });
    const document = (await app.inject({ method: 'GET', url: '/openapi.json' })).json<{ paths: Record<string, unknown> }>();
    expect(Object.keys(document.paths).filter((route) => route === '/' || route.startsWith('/assets'))).toEqual([]);
  });

  it('is not served by a Manager built without it', async () => {
    const bare = await buildTestApp(createWorld().deps);
    try {
      const response = await bare.inject({ method: 'GET', url: '/', headers: { authorization: '' } });
      expect(response.statusCode).toBe(401);
    } finally {
      await bare.close();
    }
  });
});
