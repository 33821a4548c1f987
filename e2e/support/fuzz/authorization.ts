import fc from 'fast-check';
import type { Operation } from './openapi-operations.js';

/**
 * Whom the Manager must take a request's sender for: the admin token (every scope, every project),
 * the reader (a token with fewer scopes, bound to another project than the world's objects), or
 * nobody (no token, or a bad one).
 */
export type Caller = 'admin' | 'reader' | 'nobody';

/** What the fuzzer puts in `Authorization`, and whom the Manager must take the sender for. */
export interface AuthorizationVariant {
  /** `valid`, `missing`, `wrong-scheme`, `reader`, …: named in the report. */
  readonly kind: string;
  /** Header values to send to `operation` (several: the header is repeated); none: no header. */
  valuesFor(operation: Operation): readonly string[];
  readonly caller: Caller;
  /** True when the Manager must refuse a request to `operation` sent so, whatever else it holds. */
  isRefused(operation: Operation): boolean;
}

/**
 * The `Authorization` header as a parameter of the fuzz: the admin `token` (on the Agents' routes,
 * the stand-in Agent's `agentCredential`, `Bearer hhc_…`), mostly, or one of the ways a token goes
 * wrong, each of which must get the same 401 from every route that needs an API token.
 */
export function authorizationVariants(credentials: {
  readonly token: string;
  readonly agentCredential: string;
}): fc.Arbitrary<AuthorizationVariant> {
  const { token, agentCredential } = credentials;
  const bad = (kind: string, value: fc.Arbitrary<string | string[]>) =>
    value.map((v): AuthorizationVariant => ({
      kind,
      valuesFor: () => (Array.isArray(v) ? v : [v]),
      caller: 'nobody',
      isRefused: (operation) => operation.auth !== 'public',
    }));
  const tokenBody = fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 60 });
  const valid: AuthorizationVariant = {
    kind: 'valid',
    valuesFor: (operation) => [operation.auth === 'agent' ? agentCredential : `Bearer ${token}`],
    caller: 'admin',
    isRefused: () => false,
  };
  return fc.oneof(
    { arbitrary: fc.constant(valid), weight: 36 },
    { arbitrary: bad('missing', fc.constant([])), weight: 2 },
    {
      arbitrary: bad(
        'malformed',
        fc.constantFrom('Bearer', 'Bearer ', 'Bearer  hth_', 'hth_abc', 'Bearer hth_a b', 'Bearer\thth_x', token),
      ),
      weight: 1,
    },
    {
      arbitrary: bad(
        'unknown',
        tokenBody.map((body) => `Bearer hth_${body.replace(/[^A-Za-z0-9_-]/g, 'x')}`),
      ),
      weight: 1,
    },
    {
      arbitrary: bad(
        'wrong-prefix',
        tokenBody.map((body) => `Bearer ghp_${body.replace(/[^A-Za-z0-9]/g, 'x')}`),
      ),
      weight: 1,
    },
    {
      arbitrary: bad(
        'wrong-scheme',
        fc.constantFrom('Basic YWRtaW46YWRtaW4=', `Token ${token}`, 'Digest username="a"', 'bearer', `Bearer: ${token}`),
      ),
      weight: 1,
    },
    {
      arbitrary: bad(
        'huge',
        fc.integer({ min: 1_000, max: 12_000 }).map((n) => `Bearer hth_${'a'.repeat(n)}`),
      ),
      weight: 1,
    },
    { arbitrary: bad('non-ascii', fc.constantFrom('Bearer hth_é', 'Bearer hth_😀', 'Bearer hth_\u00ff\u00fe')), weight: 1 },
    {
      // Node keeps the first of repeated headers, a proxy may keep another: the Manager takes none.
      // (An Agent's route reads the first: there, only the API-token routes' answer is checked.)
      arbitrary: bad(
        'repeated',
        fc.constantFrom(
          [`Bearer ${token}`, 'Bearer hth_b'],
          ['Bearer hth_b', `Bearer ${token}`],
          [`Bearer ${token}`, `Bearer ${token}`],
        ),
      ),
      weight: 1,
    },
    { arbitrary: bad('truncated', fc.constant(`Bearer ${token.slice(0, -1)}`)), weight: 1 },
    { arbitrary: bad('altered', fc.constant(`Bearer ${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`)), weight: 1 },
    { arbitrary: bad('padded', fc.constantFrom(`Bearer ${token}x`, `Bearer ${token} x`, `Bearer hth_${token}`)), weight: 1 },
  );
}

/**
 * A valid token other than the admin's, with fewer scopes and bound to another project:
 * `mayCall` tells the operations that need a token which its scopes allow; it must get 403
 * SCOPE_MISSING from every other one (and the Agents' routes refuse it, as any API token).
 */
export function readerVariant(secret: string, mayCall: (operation: Operation) => boolean): AuthorizationVariant {
  return {
    kind: 'reader',
    valuesFor: () => [`Bearer ${secret}`],
    caller: 'reader',
    isRefused: (operation) => operation.auth === 'agent' || (operation.auth === 'token' && !mayCall(operation)),
  };
}
