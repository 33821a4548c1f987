import { bodyOf, type ApiClient } from './api-client.js';
import { paginate } from './paginate.js';
import type { CreatedToken, CreateTokenRequest, CurrentToken, Token } from './types.js';

/** API tokens: scopes and projects. A token's secret is only in the answer that creates it. */
export class Tokens {
  constructor(private readonly api: ApiClient) {}

  async create(request: CreateTokenRequest): Promise<CreatedToken> {
    return bodyOf(this.api.POST('/v1/tokens', { body: request }));
  }

  /** The tokens whose projects are all the caller's, revoked ones too, page after page. */
  list(options: { readonly pageSize?: number } = {}): AsyncGenerator<Token> {
    return paginate((cursor: string | undefined) =>
      bodyOf(this.api.GET('/v1/tokens', { params: { query: { limit: options.pageSize, cursor } } })),
    );
  }

  async get(id: string): Promise<Token> {
    return bodyOf(this.api.GET('/v1/tokens/{id}', { params: { path: { id } } }));
  }

  /** Revokes the token: every Manager refuses it from the next request. */
  async revoke(id: string): Promise<void> {
    await bodyOf(this.api.DELETE('/v1/tokens/{id}', { params: { path: { id } } }));
  }

  /** The token this client sends. */
  async current(): Promise<CurrentToken> {
    return bodyOf(this.api.GET('/v1/whoami'));
  }
}
