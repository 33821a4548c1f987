/** Which request an idempotency key belongs to. */
export interface IdempotencyScope {
  readonly key: string;
  readonly method: string;
  /** The request path without its query. */
  readonly route: string;
}

/** The response given to the first request, replayed to every retry. */
export interface StoredResponse {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export interface IdempotencyRecord {
  readonly fingerprint: string;
  /** Undefined while the first request is still running. */
  readonly response: StoredResponse | undefined;
  readonly createdAt: Date;
  readonly expiresAt: Date;
}

export type ClaimResult = { readonly isClaimed: true } | { readonly isClaimed: false; readonly existing: IdempotencyRecord };

/** Remembers `Idempotency-Key`s and the responses given for them. */
export interface IdempotencyRepository {
  /**
   * Claims the key for a request with this fingerprint, atomically: of concurrent claims exactly
   * one wins. A record that expired before `at`, or whose request never completed and was created
   * before `staleBefore`, is replaced.
   */
  claim(
    scope: IdempotencyScope,
    claim: { readonly fingerprint: string; readonly at: Date; readonly expiresAt: Date; readonly staleBefore: Date },
  ): Promise<ClaimResult>;
  /** Stores the response of the claiming request. */
  complete(scope: IdempotencyScope, response: StoredResponse, at: Date): Promise<void>;
  /** Forgets the key (the request may be tried again with it). */
  release(scope: IdempotencyScope): Promise<void>;
  /** Removes every record that expired before `at`; answers how many. */
  deleteExpired(at: Date): Promise<number>;
}
