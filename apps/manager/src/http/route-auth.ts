/**
 * Who may call a route, declared on each route as `config: { auth }`: a public route, a route
 * Agents call (authenticated by the route itself: a join token or a host credential), or a bearer
 * token with a scope.
 */
export type RouteAuth = 'public' | 'agent' | { readonly scope: string };

declare module 'fastify' {
  interface FastifyContextConfig {
    auth?: RouteAuth;
  }
}
