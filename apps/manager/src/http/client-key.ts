import type { FastifyRequest } from 'fastify';

/**
 * Who is asking, for per-client caps. The client address for now (requests carry no identity);
 * once requests carry tokens, the token's subject replaces it here and nowhere else.
 */
export function clientKeyOf(request: FastifyRequest): string {
  return `addr:${request.ip}`;
}
