import type { FastifyRequest } from 'fastify';

/** True when the client asked not to wait: `?wait=false` or `Prefer: respond-async`. */
export function isAsyncRequested(request: FastifyRequest, wait: boolean | undefined): boolean {
  if (wait !== undefined) return !wait;
  const prefer = request.headers.prefer;
  const preferences = (Array.isArray(prefer) ? prefer.join(',') : (prefer ?? '')).toLowerCase();
  return preferences.split(/[,;]/).some((p) => p.trim() === 'respond-async');
}
