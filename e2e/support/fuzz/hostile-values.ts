import fc from 'fast-check';

/** Strings that have broken parsers, databases, loggers and path handling before. */
const notorious = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\ud800',
  '\udfff\ud800',
  '\u202eevil',
  '\ufeff',
  '\uffff',
  'İı',
  'ß',
  'ｆｕｌｌ',
  '😀👩‍👩‍👧‍👦',
  '\r\n',
  '\t',
  '../../../../etc/passwd',
  '/dev/zero',
  '/proc/self/environ',
  '%00',
  '%',
  '%zz',
  "'; DROP TABLE vms; --",
  '${jndi:ldap://x}',
  '<script>alert(1)</script>',
  '__proto__',
  'constructor',
  'null',
  'true',
  '-1',
  '1e400',
  '0x10',
  'NaN',
  '9007199254740993',
] as const;

/** Hostile text: notorious strings, any code points, and very long strings. */
export const hostileText: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom(...notorious), weight: 4 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 40 }), weight: 3 },
  { arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }), weight: 2 },
  { arbitrary: fc.integer({ min: 65, max: 70_000 }).map((n) => 'a'.repeat(n)), weight: 1 },
  { arbitrary: fc.integer({ min: 1, max: 20_000 }).map((n) => '😀'.repeat(n)), weight: 1 },
);

/** Numbers at and past the edges of what JSON, JavaScript and PostgreSQL hold. */
const edgeNumbers = [0, -0, -1, 1.5, 0.1, 2 ** 31, 2 ** 32 + 1, 2 ** 53 + 1, -(2 ** 63), 1e308, -1e308, 5e-324] as const;

/** A JSON value nested `depth` levels deep. */
function nested(depth: number, leaf: unknown, asObject: boolean): unknown {
  let value = leaf;
  for (let i = 0; i < depth; i += 1) value = asObject ? { a: value } : [value];
  return value;
}

/** Any JSON value a hostile client might put where another was expected. */
export const hostileJson: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: hostileText, weight: 4 },
  { arbitrary: fc.constantFrom<unknown>(null, true, false, ...edgeNumbers), weight: 3 },
  { arbitrary: fc.double(), weight: 1 },
  { arbitrary: fc.array(hostileText, { maxLength: 5 }), weight: 1 },
  { arbitrary: fc.dictionary(hostileText, hostileText, { maxKeys: 4 }), weight: 1 },
  {
    arbitrary: fc.constantFrom<unknown>(
      JSON.parse('{"__proto__":{"isAdmin":true}}'),
      JSON.parse('{"constructor":{"prototype":{"isAdmin":true}}}'),
    ),
    weight: 1,
  },
  {
    arbitrary: fc.tuple(fc.integer({ min: 1, max: 1_000 }), fc.boolean()).map(([depth, asObject]) => nested(depth, 1, asObject)),
    weight: 1,
  },
);
