import { Type } from 'typebox';
import type { HttpServer } from '@hearth/http-server';
import type { UseCaseDependencies } from '../../application/dependencies.js';
import { createToken, getToken, listTokens, revokeToken } from '../../application/use-cases/api-tokens.js';
import { projectNamesOf } from '../../domain/access.js';
import { principalOf } from '../authentication.js';
import { bodyLimitBytes } from '../body-limits.js';
import { PostHeaders, TokenIdParams, problemResponses } from '../schemas/common.js';
import {
  CreateTokenBody,
  CreatedTokenView,
  ListTokensQuery,
  TokenList,
  TokenView,
  WhoAmIView,
} from '../schemas/token-schemas.js';
import { tokenView } from '../views.js';
import { tokenIdParam } from './parse-ids.js';

const tokensAdmin = { auth: { scope: 'tokens:admin' } } as const;

export function registerTokenRoutes(app: HttpServer, deps: UseCaseDependencies): void {
  app.post(
    '/v1/tokens',
    {
      config: tokensAdmin,
      bodyLimit: bodyLimitBytes.createToken,
      schema: {
        operationId: 'createToken',
        summary:
          'Create an API token; its secret is in this answer only. It gets only scopes and projects the caller has (403 TOKEN_GRANT_EXCEEDED)',
        tags: ['tokens'],
        headers: PostHeaders,
        body: CreateTokenBody,
        response: { 201: CreatedTokenView, ...problemResponses },
      },
    },
    async (request, reply) => {
      const { token, secret } = await createToken(deps, principalOf(request), request.body);
      return reply.status(201).send({ ...tokenView(token), secret });
    },
  );

  app.get(
    '/v1/tokens',
    {
      config: tokensAdmin,
      schema: {
        operationId: 'listTokens',
        summary: "List the tokens whose projects are all the caller's, revoked ones included (never their secrets)",
        tags: ['tokens'],
        querystring: ListTokensQuery,
        response: { 200: TokenList, ...problemResponses },
      },
    },
    async (request) => {
      const afterId = request.query.cursor === undefined ? undefined : tokenIdParam(request.query.cursor);
      const page = await listTokens(deps, principalOf(request), { limit: request.query.limit, afterId });
      return { items: page.items.map(tokenView), nextCursor: page.nextCursor };
    },
  );

  app.get(
    '/v1/tokens/:id',
    {
      config: tokensAdmin,
      schema: {
        operationId: 'getToken',
        summary: 'Get a token (never its secret)',
        tags: ['tokens'],
        params: TokenIdParams,
        response: { 200: TokenView, ...problemResponses },
      },
    },
    async (request) => tokenView(await getToken(deps, principalOf(request), tokenIdParam(request.params.id))),
  );

  app.delete(
    '/v1/tokens/:id',
    {
      config: tokensAdmin,
      bodyLimit: bodyLimitBytes.none,
      schema: {
        operationId: 'revokeToken',
        summary: 'Revoke a token: every Manager refuses it from now on (revoking twice is no error)',
        tags: ['tokens'],
        params: TokenIdParams,
        response: { 204: Type.Null(), ...problemResponses },
      },
    },
    async (request, reply) => {
      await revokeToken(deps, principalOf(request), tokenIdParam(request.params.id));
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/v1/whoami',
    {
      config: { auth: 'token' },
      schema: {
        operationId: 'getCurrentToken',
        summary: 'The token this request was sent with: its id, name, scopes and projects',
        tags: ['tokens'],
        response: { 200: WhoAmIView, ...problemResponses },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      return {
        tokenId: principal.tokenId,
        tokenName: principal.tokenName,
        scopes: [...principal.scopes],
        projects: [...projectNamesOf(principal.projects)],
      };
    },
  );
}
