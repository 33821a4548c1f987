import fc from 'fast-check';

/** What the fuzzer puts in `Authorization`, and whether the Manager must refuse it. */
export interface AuthorizationVariant {
  /** `valid`, `missing`, `wrong-scheme`, …: named in the report. */
  readonly kind: string;
  /** Header values to send (several: the header is repeated); none: no header. */
  readonly values: readonly string[];
  /** True when a Manager that checks tokens must refuse the request. */
  readonly isRefused: boolean;
}

/**
 * The `Authorization` header as a parameter of the fuzz: a valid token, when the Manager has
 * tokens (else no header), or one of the ways a token goes wrong. `token` makes a valid one.
 */
export function authorizationVariants(token: string | undefined): fc.Arbitrary<AuthorizationVariant> {
  const bad = (kind: string, value: fc.Arbitrary<string | string[]>) =>
    value.map((v): AuthorizationVariant => ({ kind, values: Array.isArray(v) ? v : [v], isRefused: token !== undefined }));
  const tokenBody = fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 60 });
  const valid: AuthorizationVariant = { kind: 'valid', values: token === undefined ? [] : [`Bearer ${token}`], isRefused: false };
  return fc.oneof(
    { arbitrary: fc.constant(valid), weight: 12 },
    { arbitrary: fc.constant<AuthorizationVariant>({ kind: 'missing', values: [], isRefused: token !== undefined }), weight: 2 },
    {
      arbitrary: bad(
        'malformed',
        fc.constantFrom('Bearer', 'Bearer ', 'Bearer  hth_', 'hth_abc', 'Bearer hth_a b', 'Bearer\thth_x'),
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
      arbitrary: bad('wrong-scheme', fc.constantFrom('Basic YWRtaW46YWRtaW4=', 'Token hth_x', 'Digest username="a"', 'bearer')),
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
      arbitrary: bad(
        'repeated',
        fc.constant(token === undefined ? ['Bearer hth_a', 'Bearer hth_b'] : [`Bearer ${token}`, 'Bearer hth_b']),
      ),
      weight: 1,
    },
    ...(token === undefined
      ? []
      : [
          { arbitrary: bad('truncated', fc.constant(`Bearer ${token.slice(0, -1)}`)), weight: 1 },
          { arbitrary: bad('altered', fc.constant(`Bearer ${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`)), weight: 1 },
        ]),
  );
}
