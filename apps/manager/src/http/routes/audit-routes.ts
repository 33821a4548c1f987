import type { HttpServer } from '@hearth/http-server';
import type { UseCaseDependencies } from '../../application/dependencies.js';
import { listAudit } from '../../application/use-cases/audit-queries.js';
import { principalOf } from '../authentication.js';
import { AuditPageView, ListAuditQuery } from '../schemas/audit-schemas.js';
import { problemResponses } from '../schemas/common.js';

export function registerAuditRoutes(app: HttpServer, deps: UseCaseDependencies): void {
  app.get(
    '/v1/audit',
    {
      config: { auth: { scope: 'audit:read' } },
      schema: {
        operationId: 'listAuditEntries',
        summary: 'The audit log, newest first: every mutation and every refused attempt (filter; page with `cursor`)',
        tags: ['audit'],
        querystring: ListAuditQuery,
        response: { 200: AuditPageView, ...problemResponses },
      },
    },
    async (request) => {
      const { tokenId, project, action, outcome, since, until, limit, cursor } = request.query;
      const page = await listAudit(
        deps,
        principalOf(request),
        {
          tokenId,
          project,
          action,
          outcome,
          since: since === undefined ? undefined : new Date(since),
          until: until === undefined ? undefined : new Date(until),
        },
        { limit, beforeId: cursor },
      );
      return { items: page.items.map((entry) => ({ ...entry, at: entry.at.toISOString() })), nextCursor: page.nextCursor };
    },
  );
}
