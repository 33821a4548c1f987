import type { FastifyRequest } from 'fastify';

/**
 * Who sent a request, for scoping what the API keeps per client (idempotency keys, caps on
 * long-lived requests): the API token's id (`token:<id>`). A request without a principal (a route
 * Agents call) is its client address (`addr:<ip>`).
 */
export function callerOf(request: FastifyRequest): string {
  return request.principal === undefined ? `addr:${request.ip}` : `token:${request.principal.tokenId}`;
}
