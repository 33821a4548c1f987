import type { FastifyRequest } from 'fastify';

/**
 * Who sent a request, for scoping what the API keeps per client (idempotency keys). Without
 * authentication that is the client's address (`addr:<ip>`); an API token's id will take its place
 * (`token:<id>`) without changing anything that is scoped by it.
 */
export function callerOf(request: FastifyRequest): string {
  return `addr:${request.ip}`;
}
