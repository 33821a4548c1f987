import type { SwaggerOptions } from '@fastify/swagger';
import { ProblemSchema } from './schemas/common.js';

/** The routes a client may call without a token; each says so with `security: []`. */
export const publicPaths: readonly string[] = Object.freeze(['/healthz', '/readyz', '/openapi.json']);

const problemMediaType = 'application/problem+json';

interface Operation {
  responses?: Record<string, { description?: string; content?: Record<string, unknown> }>;
}

/**
 * Every error answer is problem+json (the renderer of @hearth/http-server writes no other), so each
 * operation's `4XX` and `5XX` responses refer to one `Problem` schema under that media type, rather
 * than repeating the schema as `application/json` in each of them.
 */
function documentProblems(document: { components?: { schemas?: Record<string, unknown> }; paths?: object }): void {
  const { $id: _id, ...problem } = ProblemSchema as unknown as Record<string, unknown>;
  document.components = { ...document.components, schemas: { ...document.components?.schemas, Problem: problem } };
  for (const operations of Object.values(document.paths ?? {}) as Record<string, Operation>[]) {
    for (const operation of Object.values(operations)) {
      const responses = operation.responses ?? {};
      for (const status of Object.keys(responses)) {
        if (!/^[45]XX$/.test(status)) continue;
        responses[status] = {
          description:
            status === '4XX'
              ? 'The request was refused: a problem (RFC 9457) with a stable `code`'
              : 'The Manager or a host failed: a problem (RFC 9457) with a stable `code`',
          content: { [problemMediaType]: { schema: { $ref: '#/components/schemas/Problem' } } },
        };
      }
    }
  }
}

/**
 * What `GET /openapi.json` says beyond the routes themselves: OpenAPI 3.1, the server (the Manager
 * that serves the document, so a relative URL), the bearer scheme applied to every operation but the
 * public ones, and one `Problem` schema for every error answer.
 */
export function openApiOptions(version: string): SwaggerOptions {
  return {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Hearth Manager API',
        description:
          'Public REST API of the Hearth control plane for Firecracker microVMs. Errors are RFC 9457 problem+json ' +
          'with a stable `code` and the request’s `correlationId`.',
        version,
      },
      servers: [{ url: '/', description: 'The Manager serving this document' }],
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'An API token: `Authorization: Bearer hth_…`' },
        },
      },
      security: [{ bearer: [] }],
      tags: [
        { name: 'vms', description: 'Firecracker microVMs' },
        { name: 'images', description: 'Kernel and rootfs images' },
        { name: 'templates', description: 'Named VM presets of a project: images, size, boot arguments, restart policy' },
        { name: 'snapshots', description: 'Snapshots of VMs: memory, device state and disk, taken while the guest is paused' },
        { name: 'hosts', description: 'Hosts running a Hearth Agent' },
        { name: 'events', description: 'The event log and its live stream' },
        { name: 'tokens', description: 'API tokens: scopes (resource:action) and projects' },
        { name: 'projects', description: 'Projects own images, VMs and events; quotas limit what they hold' },
        { name: 'audit', description: 'Who did what: every mutation and every refused attempt' },
        { name: 'health', description: 'Liveness and readiness' },
        { name: 'system', description: 'The Manager replica that answers, and this document' },
      ],
    },
    transformObject: (documentObject) => {
      const document = 'openapiObject' in documentObject ? documentObject.openapiObject : documentObject.swaggerObject;
      documentProblems(document as Parameters<typeof documentProblems>[0]);
      return document;
    },
  };
}
