import { Type } from 'typebox';
import { auditPageSize } from '../../application/use-cases/audit-queries.js';
import { tokenIdPattern } from '../../domain/ids.js';
import { ProjectName, Timestamp } from './common.js';

const Outcome = Type.Union([Type.Literal('succeeded'), Type.Literal('refused'), Type.Literal('failed')]);

export const ListAuditQuery = Type.Object(
  {
    tokenId: Type.Optional(Type.String({ pattern: tokenIdPattern })),
    project: Type.Optional(ProjectName),
    /** The method and route pattern, e.g. `POST /v1/vms/:id/stop`. */
    action: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    outcome: Type.Optional(Outcome),
    since: Type.Optional(Timestamp),
    until: Type.Optional(Timestamp),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: auditPageSize.maximum, default: auditPageSize.default })),
    /** `nextCursor` of the previous page (older entries come next). */
    cursor: Type.Optional(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER })),
  },
  { additionalProperties: false },
);

export const AuditEntryView = Type.Object({
  id: Type.Integer(),
  at: Timestamp,
  tokenId: Type.Union([Type.String(), Type.Null()]),
  tokenName: Type.Union([Type.String(), Type.Null()]),
  project: Type.Union([Type.String(), Type.Null()]),
  action: Type.String(),
  target: Type.Union([Type.String(), Type.Null()]),
  outcome: Outcome,
  statusCode: Type.Integer(),
  errorCode: Type.Union([Type.String(), Type.Null()]),
  correlationId: Type.String(),
  clientAddress: Type.String(),
});

export const AuditPageView = Type.Object({
  items: Type.Array(AuditEntryView),
  nextCursor: Type.Union([Type.Integer(), Type.Null()]),
});
