import type { FastifyRequest } from 'fastify';
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
  }
  interface FastifyRequest {
    /** The API token's principal, set for every route that needs a token. */
    principal?: Principal;
  }
}

export function registerAuthentication(app: HttpServer, authenticator: Authenticator): void {
  app.addHook('onRoute', (route) => {
    if (route.config?.auth === undefined) throw new Error(`route ${String(route.method)} ${route.url} declares no config.auth`);
  });

  app.addHook('onRequest', async (request, reply) => {
    const auth = request.routeOptions.config.auth;
    if (auth === 'public' || auth === 'agent') return;
    try {
      request.principal = await authenticator.authenticate(request.headers.authorization);
    } catch (error) {
      reply.header('www-authenticate', 'Bearer realm="hearth"');
      throw error;
    }
    if (typeof auth === 'object' && !hasScope(request.principal, auth.scope)) {
      throw new AppError('SCOPE_MISSING', `This request needs an API token with the scope ${auth.scope}`, {
        details: { scope: auth.scope },
      });
    }
  });
}

/** The principal of a request to a route that needs a token (set by the onRequest hook). */
export function principalOf(request: FastifyRequest): Principal {
  if (request.principal === undefined) throw new AppError('INTERNAL', 'The request has not been authenticated');
  return request.principal;
}
