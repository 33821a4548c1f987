import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '@hearth/errors';
import type { HttpServer } from '@hearth/http-server';
import type { Authenticator } from '../application/authenticator.js';
import { hasScope, type Principal, type Scope } from '../domain/access.js';

/**
 * Who may call a route, declared by every route in `config.auth`:
 * - `public`: anyone (health probes and the OpenAPI document);
 * - `agent`: Agents, which prove who they are by their own means, not by an API token;
 * - `token`: any valid API token;
 * - `{ scope }`: a valid API token holding that scope.
 * A route that declares nothing cannot be registered, and a request to no route needs a token too,
 * so that unauthenticated callers learn nothing, not even which routes exist.
 */
export type RouteAuth = 'public' | 'agent' | 'token' | { readonly scope: Scope };

declare module 'fastify' {
  interface FastifyContextConfig {
    auth?: RouteAuth;
    /**
     * The route is a WebSocket a browser opens: its token may come as the subprotocol
     * `hearth.bearer.<base64url(token)>` instead of the `Authorization` header (never both).
     */
    acceptsBearerSubprotocol?: boolean;
    /** The route upgrades to a WebSocket; an upgrade request to any other route is refused. */
    isWebSocket?: boolean;
  }
  interface FastifyRequest {
    /** The API token's principal, set for every route that needs a token. */
    principal?: Principal;
  }
}

export interface AuthenticationOptions {
  /**
   * Runs between finding out who sent a request and refusing it: a request is already known by
   * its token (or, without a valid one, by its address) but not yet refused, so that refused
   * requests count against a rate limit too.
   */
  readonly beforeRefusing?: (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
}

const failures = new WeakMap<FastifyRequest, unknown>();

export function registerAuthentication(app: HttpServer, authenticator: Authenticator, options: AuthenticationOptions = {}): void {
  app.addHook('onRoute', (route) => {
    if (route.config?.auth === undefined) throw new Error(`route ${String(route.method)} ${route.url} declares no config.auth`);
  });

  app.addHook('onRequest', async (request) => {
    const auth = request.routeOptions.config.auth;
    if (auth === 'public' || auth === 'agent') return;
    try {
      request.principal = await authenticator.authenticate(authorizationOf(request));
    } catch (error) {
      failures.set(request, error);
    }
  });

  if (options.beforeRefusing !== undefined) app.addHook('onRequest', options.beforeRefusing);

  app.addHook('onRequest', async (request, reply) => {
    const auth = request.routeOptions.config.auth;
    if (failures.has(request)) {
      reply.header('www-authenticate', 'Bearer realm="hearth"');
      throw failures.get(request);
    }
    if (typeof auth === 'object' && !hasScope(principalOf(request), auth.scope)) {
      throw new AppError('SCOPE_MISSING', `This request needs an API token with the scope ${auth.scope}`, {
        details: { scope: auth.scope },
      });
    }
  });
}

/**
 * The request's one `Authorization` header. Two or more are none: Node keeps the first, a proxy in
 * front may keep another, and a request they would read differently is refused by both.
 */
function authorizationOf(request: FastifyRequest): string | undefined {
  const { rawHeaders } = request.raw;
  let count = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]!.toLowerCase() === 'authorization') count += 1;
  const header = count === 1 ? request.headers.authorization : undefined;
  if (request.routeOptions.config.acceptsBearerSubprotocol !== true) return header;
  const fromSubprotocol = bearerOfSubprotocols(request.headers['sec-websocket-protocol']);
  if (fromSubprotocol === undefined) return header;
  // A token given both ways is none: which one would count is not for the server to guess.
  return count === 0 ? fromSubprotocol : undefined;
}

/** The subprotocol that carries a token, for clients (browsers) that cannot set headers on a WebSocket. */
export const bearerSubprotocolPrefix = 'hearth.bearer.';

/**
 * `Bearer <token>` from the one `hearth.bearer.<base64url(token)>` entry of a subprotocol list;
 * undefined when there is none; an unusable value (several entries, not base64url) when malformed,
 * so that it is refused like a bad header.
 */
function bearerOfSubprotocols(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const entries = header
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry.startsWith(bearerSubprotocolPrefix));
  if (entries.length === 0) return undefined;
  const encoded = entries.length === 1 ? entries[0]!.slice(bearerSubprotocolPrefix.length) : '';
  if (!/^[A-Za-z0-9_-]+$/.test(encoded)) return 'Bearer -';
  return `Bearer ${Buffer.from(encoded, 'base64url').toString('utf8')}`;
}

/** The principal of a request to a route that needs a token (set by the onRequest hook). */
export function principalOf(request: FastifyRequest): Principal {
  if (request.principal === undefined) throw new AppError('INTERNAL', 'The request has not been authenticated');
  return request.principal;
}
