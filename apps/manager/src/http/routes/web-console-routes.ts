import { createHash } from 'node:crypto';
import { AppError } from '@hearth/errors';
import type { FastifyReply } from 'fastify';
import { Type } from 'typebox';
import type { HttpServer } from '@hearth/http-server';

/**
 * What the console may load: its own scripts, styles and API calls (the WebSocket of the serial
 * console is same-origin too), no inline script, no plugin, no framing, no other site. Inline styles
 * are allowed for xterm.js, which themes its terminal with `<style>` elements it creates.
 */
export const consoleContentSecurityPolicy = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const contentTypes: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.woff2': 'font/woff2',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

interface StaticFile {
  readonly body: Buffer;
  readonly contentType: string;
  readonly etag: string;
}

const AssetParams = Type.Object({
  name: Type.String({ maxLength: 128, pattern: '^[A-Za-z0-9._-]+$' }),
});

/**
 * The web console at `/` (`index.html`, revalidated on every load) and `/assets/*` (content-hashed
 * names, so cached for a year). Both are public: they are the same static files for everyone, and
 * every API call the console makes carries the user's token. Not part of the API document.
 */
export function registerWebConsoleRoutes(app: HttpServer, files: ReadonlyMap<string, Buffer>): void {
  const served = new Map<string, StaticFile>();
  for (const [name, body] of files) {
    const extension = name.slice(name.lastIndexOf('.'));
    served.set(name, {
      body,
      contentType: contentTypes[extension] ?? 'application/octet-stream',
      etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
    });
  }
  const index = served.get('index.html');
  if (index === undefined) throw new Error('the console has no index.html');

  app.get('/', { config: { auth: 'public' }, schema: { hide: true } }, async (request, reply) =>
    send(reply, index, request.headers['if-none-match'], 'no-cache'),
  );

  app.get(
    '/assets/:name',
    { config: { auth: 'public' }, schema: { hide: true, params: AssetParams } },
    async (request, reply) => {
      const file = served.get(`assets/${request.params.name}`);
      if (file === undefined) throw new AppError('ROUTE_NOT_FOUND', `No console file ${request.params.name}`);
      return send(reply, file, request.headers['if-none-match'], 'public, max-age=31536000, immutable');
    },
  );
}

function send(reply: FastifyReply, file: StaticFile, ifNoneMatch: string | undefined, cacheControl: string): FastifyReply {
  reply
    .header('cache-control', cacheControl)
    .header('etag', file.etag)
    .header('content-security-policy', consoleContentSecurityPolicy)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('cross-origin-opener-policy', 'same-origin');
  if (ifNoneMatch !== undefined && ifNoneMatch.split(',').some((tag) => tag.trim() === file.etag)) return reply.code(304).send();
  return reply.type(file.contentType).send(file.body);
}
