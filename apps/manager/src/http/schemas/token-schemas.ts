import { Type } from 'typebox';
import { allProjectsMarker, scopes, type Scope } from '../../domain/access.js';
import { tokenIdPattern } from '../../domain/ids.js';
import { tokenPageSize } from '../../application/use-cases/api-tokens.js';
import { ProjectName, Timestamp } from './common.js';

export const ScopeSchema = Type.Unsafe<Scope>(
  Type.String({ enum: [...scopes], description: 'resource:action; `<resource>:write` grants `<resource>:read` too' }),
);

/** A project name, or `*` for every project (only a token bound to every project can grant it). */
export const ProjectNameOrAll = Type.Union([ProjectName, Type.Literal(allProjectsMarker)]);

export const tokenNameMaxLength = 128;

export const CreateTokenBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: tokenNameMaxLength }),
    scopes: Type.Array(ScopeSchema, { minItems: 1, maxItems: scopes.length, uniqueItems: true }),
    /** Default: the projects of the token that creates it. */
    projects: Type.Optional(Type.Array(ProjectNameOrAll, { minItems: 1, maxItems: 64, uniqueItems: true })),
    /** Lifetime in seconds (at most 10 years); default: it never expires. */
    expiresInSeconds: Type.Optional(Type.Integer({ minimum: 60, maximum: 315_360_000 })),
  },
  { additionalProperties: false },
);

export const TokenView = Type.Object({
  id: Type.String({ pattern: tokenIdPattern }),
  name: Type.String(),
  scopes: Type.Array(ScopeSchema),
  /** Project names, or `["*"]` for every project. */
  projects: Type.Array(Type.String()),
  createdAt: Timestamp,
  /** The token that created it; null for the token made at first start. */
  createdBy: Type.Union([Type.String(), Type.Null()]),
  expiresAt: Type.Union([Timestamp, Type.Null()]),
  lastUsedAt: Type.Union([Timestamp, Type.Null()]),
  revokedAt: Type.Union([Timestamp, Type.Null()]),
});

export const CreatedTokenView = Type.Intersect([
  TokenView,
  Type.Object({
    /** The secret, shown this once: send it as `Authorization: Bearer <secret>`. */
    secret: Type.String(),
  }),
]);

export const TokenList = Type.Object({
  items: Type.Array(TokenView),
  /** Pass as `cursor` for the next page; null on the last page. */
  nextCursor: Type.Union([Type.String(), Type.Null()]),
});

export const ListTokensQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: tokenPageSize.maximum, default: tokenPageSize.default })),
    cursor: Type.Optional(Type.String({ pattern: tokenIdPattern })),
  },
  { additionalProperties: false },
);

export const WhoAmIView = Type.Object({
  tokenId: Type.String({ pattern: tokenIdPattern }),
  tokenName: Type.String(),
  scopes: Type.Array(ScopeSchema),
  projects: Type.Array(Type.String()),
});
