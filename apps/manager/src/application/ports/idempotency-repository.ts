/**
 * Which request an idempotency key belongs to: a key is the caller's own, and names one request to
 * one matched route (its pattern and path parameters, never the raw URL).
 */
export interface IdempotencyScope {
  /** Who sent the request (see `callerOf`): keys of different callers never meet. */
  readonly caller: string;
  readonly key: string;
  readonly method: string;
  /** The matched route pattern, e.g. `/v1/vms/:id/stop`. */
  readonly route: string;
  /** The path parameters, as canonical JSON (`{"id":"vm_…"}`). */
  readonly params: string;
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

export interface IdempotencyClaim {
  /** Tells this claim from a later one of the same key: only its holder renews, completes or releases it. */
  readonly claimId: string;
  readonly fingerprint: string;
  readonly at: Date;
  /** When the key and its stored response are forgotten. */
  readonly expiresAt: Date;
  /** Until when the claim holds unless renewed: a claim whose request died is free again after it. */
  readonly leaseExpiresAt: Date;
  /** How many unexpired keys one caller may hold; a claim beyond it is refused. */
  readonly maxKeysPerCaller: number;
}

export type ClaimResult =
  | { readonly kind: 'claimed' }
  /** Another request holds or held the key (completed, or still running and renewing its lease). */
  | { readonly kind: 'taken'; readonly existing: IdempotencyRecord }
  /** The caller already holds `maxKeysPerCaller` unexpired keys. */
  | { readonly kind: 'over_limit' };

/** Remembers `Idempotency-Key`s and the responses given for them. */
export interface IdempotencyRepository {
  /**
   * Claims the key for a request, atomically: of concurrent claims exactly one wins. A record that
   * expired before `at`, or whose request never completed and whose lease ran out before `at`, is
   * replaced. A new key is refused when the caller holds `maxKeysPerCaller` unexpired ones.
   */
  claim(scope: IdempotencyScope, claim: IdempotencyClaim): Promise<ClaimResult>;
  /** Extends the lease of a claim still in progress; false when it is no longer held by `claimId`. */
  renew(scope: IdempotencyScope, claimId: string, leaseExpiresAt: Date): Promise<boolean>;
  /** Stores the response of the claiming request. */
  complete(scope: IdempotencyScope, claimId: string, response: StoredResponse, at: Date): Promise<void>;
  /** Forgets the key (the request may be tried again with it). */
  release(scope: IdempotencyScope, claimId: string): Promise<void>;
  /** Removes every record that expired before `at`; answers how many. */
  deleteExpired(at: Date): Promise<number>;
}
