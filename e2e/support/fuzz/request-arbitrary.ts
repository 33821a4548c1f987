import fc from 'fast-check';
import type { AuthorizationVariant, Caller } from './authorization.js';
import { conformsTo } from './conforms-to.js';
import { describeRequest, type FuzzRequest } from './fuzz-request.js';
import { hostileJson, hostileText } from './hostile-values.js';
import type { JsonSchema, Operation } from './openapi-operations.js';
import { frame, framings, type Framing } from './raw-framing.js';
import { validValue, type WorldValues } from './valid-values.js';

/** A request being made: valid at first, then mutated. */
interface Draft {
  readonly operation: Operation;
  readonly method: string;
  /** Path parameter values as they appear in the path (already encoded). */
  readonly pathValues: Readonly<Record<string, string>>;
  readonly pathSuffix: string;
  /** Encoded name=value pairs; a name may repeat. */
  readonly query: ReadonlyArray<readonly [string, string]>;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly host: FuzzRequest['host'];
  readonly body: { readonly json: unknown } | { readonly bytes: Buffer } | undefined;
  readonly contentType: string | undefined;
  readonly framing: Framing | undefined;
  readonly mutations: readonly string[];
  readonly isInvalid: boolean;
  readonly caller: Caller;
}

export interface RequestArbitraryOptions {
  readonly operations: readonly Operation[];
  readonly world: WorldValues;
  readonly authorization: fc.Arbitrary<AuthorizationVariant>;
  /** At most this many mutations on one request (default 3; 0: valid requests only). */
  readonly maxMutations?: number;
}

/**
 * Requests to the API described by `operations`: each starts valid for its operation (with
 * values of the world, so that existing resources are hit too) and then gets up to
 * `maxMutations` mutations — wrong types, huge and unicode values, missing and extra fields, bad
 * headers, content types and JSON, odd path bytes, broken framing — and an Authorization variant.
 */
export function requestArbitrary(options: RequestArbitraryOptions): fc.Arbitrary<FuzzRequest> {
  const maxMutations = options.maxMutations ?? 3;
  // Built once per operation: making an arbitrary (a pattern's above all) costs far more than drawing from it.
  const drafts = options.operations.map((operation) => validDraft(operation, options.world));
  const draft = fc.tuple(fc.oneof(...drafts), options.authorization).map(([d, auth]) => withAuthorization(d, auth));
  return fc
    .tuple(draft, fc.integer({ min: 0, max: maxMutations }))
    .chain(([d, count]) => mutated(d, count))
    .map(finish);
}

function validDraft(operation: Operation, world: WorldValues): fc.Arbitrary<Draft> {
  const pathValues = fc.record(
    Object.fromEntries(
      operation.path.map((p) => [p.name, validValue(p.schema, world, p.name).map((v) => percentEncode(String(v)))]),
    ),
  );
  const query = fc
    .tuple(
      ...operation.query.map((p) => {
        const pair = validValue(p.schema, world, p.name).map((v): [string, string] => [p.name, percentEncode(String(v))]);
        return p.isRequired ? pair.map((x) => [x]) : fc.option(pair, { nil: undefined }).map((x) => (x === undefined ? [] : [x]));
      }),
    )
    .map((pairs) => pairs.flat());
  const headers = fc
    .tuple(
      ...operation.headers.map((p) =>
        fc
          .option(validValue(p.schema, world, p.name), { nil: undefined, freq: 2 })
          .map((v): Array<[string, string]> => (v === undefined ? [] : [[p.name, String(v)]])),
      ),
    )
    .map((pairs) => pairs.flat());
  const body =
    operation.body === undefined ? fc.constant(undefined) : validValue(operation.body, world).map((json) => ({ json }));
  return fc.record({ pathValues, query, headers, body }).map((parts): Draft => ({
    operation,
    method: operation.method,
    pathSuffix: '',
    host: 'server',
    ...parts,
    contentType: parts.body === undefined ? undefined : 'application/json',
    framing: undefined,
    mutations: [],
    isInvalid: false,
    caller: 'admin',
  }));
}

function withAuthorization(draft: Draft, variant: AuthorizationVariant): Draft {
  return {
    ...draft,
    headers: [
      ...draft.headers,
      ...variant.valuesFor(draft.operation).map((value): [string, string] => ['authorization', latin1(value)]),
    ],
    mutations: variant.kind === 'valid' ? draft.mutations : [...draft.mutations, `authorization.${variant.kind}`],
    isInvalid: draft.isInvalid || variant.isRefused(draft.operation),
    caller: variant.caller,
  };
}

function mutated(draft: Draft, count: number): fc.Arbitrary<Draft> {
  if (count === 0) return fc.constant(draft);
  return fc.oneof(...mutationsOf(draft)).chain((next) => mutated(next, count - 1));
}

function mutate(draft: Draft, name: string, isInvalid: boolean, change: Partial<Draft>): Draft {
  return { ...draft, ...change, mutations: [...draft.mutations, name], isInvalid: draft.isInvalid || isInvalid };
}

/** Percent-encodes the UTF-8 bytes of `text` (a lone surrogate becomes U+FFFD, as on any wire). */
function percentEncode(text: string): string {
  let encoded = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const c = String.fromCharCode(byte);
    encoded += /[A-Za-z0-9\-._~]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return encoded;
}

/** Control characters (and space) percent-encoded, every other byte as it is: raw bytes in a path. */
function percentEncodeControls(text: string): string {
  return [...text]
    .map((c) => (c.charCodeAt(0) <= 0x20 || c.charCodeAt(0) === 0x7f ? `%${c.charCodeAt(0).toString(16).padStart(2, '0')}` : c))
    .join('');
}

/** Control characters but tab replaced by `?`: Node's client will not send them in a header. */
function withoutControls(text: string): string {
  return [...text].map((c) => (c !== '\t' && (c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f) ? '?' : c)).join('');
}

/** UTF-8 bytes as a latin1 string (one character a byte), the form header values and targets travel in. */
function latin1(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}

function mutationsOf(draft: Draft): Array<fc.Arbitrary<Draft>> {
  const op = draft.operation;
  const mutations: Array<fc.Arbitrary<Draft>> = [
    headerNoise(draft),
    hugeHeader(draft),
    hostHeader(draft),
    methodChange(draft),
    framingChange(draft),
  ];
  if (op.path.length > 0) mutations.push(hostilePathValue(draft), hostilePathValue(draft));
  mutations.push(pathShape(draft), queryMutation(draft));
  if (op.headers.length > 0) mutations.push(hostileDeclaredHeader(draft));
  if (op.method !== 'GET') mutations.push(contentTypeChange(draft), malformedBody(draft), hugeBody(draft));
  if (op.body !== undefined) {
    mutations.push(bodyField(draft), bodyField(draft), bodyWhole(draft));
  }
  return mutations;
}

function currentJson(draft: Draft): unknown {
  return draft.body !== undefined && 'json' in draft.body ? draft.body.json : undefined;
}

/** A body field (top level or one below) replaced by a hostile value, dropped, or added. */
function bodyField(draft: Draft): fc.Arbitrary<Draft> {
  const schema = draft.operation.body!;
  const json = currentJson(draft);
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return bodyWhole(draft);
  const object = json as Record<string, unknown>;
  const properties = (schema['properties'] ?? {}) as Record<string, JsonSchema>;
  const names = [...new Set([...Object.keys(properties), ...Object.keys(object)])];
  const nestedPaths = names.flatMap((name) => {
    const inner = object[name];
    return inner !== null && typeof inner === 'object' && !Array.isArray(inner)
      ? Object.keys(inner as object).map((key) => [name, key] as const)
      : [];
  });
  const paths: ReadonlyArray<readonly string[]> = [...names.map((name) => [name]), ...nestedPaths];
  // An empty object whose schema names no properties of its own (a union of objects): nothing to pick.
  if (paths.length === 0) return bodyWhole(draft);
  const judged = (name: string, next: unknown): Draft => mutate(draft, name, !conformsTo(schema, next), { body: { json: next } });
  const stringPaths = paths.filter((path) => typeof valueAt(object, path) === 'string');
  const nul: Array<fc.Arbitrary<Draft>> =
    stringPaths.length === 0
      ? []
      : [
          // U+0000 inside a valid string: no schema forbids it, PostgreSQL stores it nowhere.
          fc
            .constantFrom(...stringPaths)
            .map((path) => judged(`body.nul:${path.join('/')}`, setAt(object, path, `${String(valueAt(object, path))}\u0000`))),
        ];
  return fc.oneof(
    ...nul,
    fc
      .tuple(fc.constantFrom(...paths), hostileJson)
      .map(([path, value]) => judged(`body.hostile:${path.join('/')}`, setAt(object, path, value))),
    fc.constantFrom(...paths).map((path) => judged(`body.drop:${path.join('/')}`, setAt(object, path, undefined))),
    fc.tuple(fc.constantFrom('__proto__', 'constructor', 'extra', 'id', 'NAME', 'name ', ''), hostileJson).map(([key, value]) => {
      const next: Record<string, unknown> = JSON.parse(JSON.stringify(object)) as Record<string, unknown>;
      Object.defineProperty(next, key, { value, enumerable: true, configurable: true, writable: true });
      return judged(`body.extra:${key}`, next);
    }),
  );
}

function valueAt(object: Record<string, unknown>, path: readonly string[]): unknown {
  let value: unknown = object;
  for (const key of path) value = (value as Record<string, unknown> | undefined)?.[key];
  return value;
}

function setAt(object: Record<string, unknown>, path: readonly string[], value: unknown): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...object };
  if (path.length === 1) {
    if (value === undefined) delete copy[path[0]!];
    else copy[path[0]!] = value;
    return copy;
  }
  copy[path[0]!] = setAt(copy[path[0]!] as Record<string, unknown>, path.slice(1), value);
  return copy;
}

function bodyWhole(draft: Draft): fc.Arbitrary<Draft> {
  const schema = draft.operation.body;
  return hostileJson.map((json) =>
    mutate(draft, 'body.replaced', schema !== undefined && !conformsTo(schema, json), {
      body: { json },
      contentType: draft.contentType ?? 'application/json',
    }),
  );
}

const malformedJsonTexts = [
  '{',
  '{"name":',
  '{"a":1,}',
  "{'name':'a'}",
  '{"name":NaN}',
  '{"a":1} trailing',
  '/* c */ {}',
  '\ufeff{}',
  '{"a":"\\ud800"',
  '{"a":"\\x41"}',
  '{"a":01}',
  '[',
  'nul',
  '{"a":1}{"b":2}',
];

function malformedBody(draft: Draft): fc.Arbitrary<Draft> {
  return fc.oneof(
    fc.constantFrom(...malformedJsonTexts).map((text) =>
      mutate(draft, 'body.malformed-json', true, {
        body: { bytes: Buffer.from(text, 'utf8') },
        contentType: 'application/json',
      }),
    ),
    fc.constant(
      mutate(draft, 'body.invalid-utf8', false, {
        body: { bytes: Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]) },
        contentType: 'application/json',
      }),
    ),
    fc.integer({ min: 1, max: 50_000 }).map((depth) =>
      mutate(draft, `body.nested:${depth}`, true, {
        body: { bytes: Buffer.from(`${'['.repeat(depth)}{"__proto__":{}}${']'.repeat(depth)}`) },
        contentType: 'application/json',
      }),
    ),
    fc.constant(null).map(() =>
      mutate(draft, 'body.duplicate-keys', false, {
        body: { bytes: Buffer.from(duplicateKeys(currentJson(draft))) },
        contentType: 'application/json',
      }),
    ),
    fc.constant(mutate(draft, 'body.empty', true, { body: { bytes: Buffer.alloc(0) }, contentType: 'application/json' })),
  );
}

/** The JSON of an object with its first key written twice (the second time with a hostile value). */
function duplicateKeys(json: unknown): string {
  const text = JSON.stringify(json ?? {}) ?? '{}';
  if (!text.startsWith('{') || text === '{}') return '{"a":1,"a":2}';
  const key = Object.keys(json as object)[0]!;
  return `{${JSON.stringify(key)}:["dup"],${text.slice(1)}`;
}

function hugeBody(draft: Draft): fc.Arbitrary<Draft> {
  return fc.oneof(
    fc.constantFrom(256 * 1024, 1024 * 1024).map((size) =>
      mutate(draft, `body.huge:${size}`, true, {
        body: { bytes: Buffer.from(`{"a":"${'a'.repeat(size)}"}`) },
        contentType: 'application/json',
      }),
    ),
    fc.integer({ min: 1_000, max: 100_000 }).map((size) =>
      mutate(draft, `body.large:${size}`, false, {
        body: { json: { ...((currentJson(draft) as object | undefined) ?? {}), padding: 'p'.repeat(size) } },
        contentType: 'application/json',
      }),
    ),
  );
}

const contentTypes = [
  ['text/plain', false],
  ['application/xml', true],
  ['multipart/form-data; boundary=x', true],
  ['application/x-www-form-urlencoded', true],
  ['application/json; charset=utf-16', false],
  ['application/json; charset=latin1', false],
  ['application/json;;;', false],
  ['APPLICATION/JSON', false],
  ['application/problem+json', false],
  ['*/*', false],
  ['application/jsonx', true],
  ['', false],
  [`application/json; ${'x'.repeat(5_000)}=1`, false],
] as const;

function contentTypeChange(draft: Draft): fc.Arbitrary<Draft> {
  const body = draft.body ?? { json: {} };
  return fc.oneof(
    fc
      .constantFrom(...contentTypes)
      .map(([type, isUnsupported]) =>
        mutate(draft, `content-type:${type.slice(0, 40)}`, isUnsupported, { body, contentType: type }),
      ),
    fc.constant(mutate(draft, 'content-type.missing', false, { body, contentType: undefined })),
    fc.constant(
      mutate(draft, 'content-type.repeated', false, {
        body,
        contentType: 'application/json',
        headers: [...draft.headers, ['content-type', 'text/plain']],
      }),
    ),
  );
}

/** A path parameter replaced: hostile text percent-encoded, raw bytes, very long, or dot segments. */
function hostilePathValue(draft: Draft): fc.Arbitrary<Draft> {
  const names = draft.operation.path.map((p) => p.name);
  const oddValue = fc.oneof(
    hostileText.map((text) => percentEncode(text)),
    hostileText.map((text) => percentEncodeControls(latin1(text))),
    fc.constantFrom(
      '%00',
      '%ff%fe',
      '%c0%af',
      '%zz',
      '%',
      '..',
      '.',
      '%2e%2e',
      '..%2f..%2fetc',
      '%252e',
      'a%2fb',
      ';x=1',
      'x#frag',
    ),
    fc.integer({ min: 90, max: 4_000 }).map((n) => 'v'.repeat(n)),
  );
  return fc
    .tuple(fc.constantFrom(...names), oddValue)
    .map(([name, value]) => mutate(draft, `path.odd:${name}`, true, { pathValues: { ...draft.pathValues, [name]: value } }));
}

function pathShape(draft: Draft): fc.Arbitrary<Draft> {
  return fc
    .constantFrom('/', '//', '/extra', '/..', '/%2e%2e', '?', '??x', '#x', '.json')
    .map((suffix) => mutate(draft, `path.suffix:${suffix}`, false, { pathSuffix: suffix }));
}

function queryMutation(draft: Draft): fc.Arbitrary<Draft> {
  const op = draft.operation;
  const validated = op.query.length > 0;
  const arbitraries: Array<fc.Arbitrary<Draft>> = [
    fc.tuple(fc.constantFrom('x', 'limit[]', '__proto__', 'constructor', 'a.b', ''), hostileText).map(([name, value]) =>
      mutate(draft, `query.unknown:${name}`, validated && name !== '', {
        query: [...draft.query, [name, percentEncode(value)]],
      }),
    ),
    fc
      .constantFrom('%zz', '%', '&&&', '=', '==x', 'a=%ff%fe', 'a=1;b=2', '%00=%00')
      .map((raw) => mutate(draft, `query.garbage:${raw}`, false, { query: [...draft.query, [raw, '']] })),
    fc
      .integer({ min: 2_000, max: 30_000 })
      .map((n) => mutate(draft, `query.huge:${n}`, validated || n > 16_000, { query: [...draft.query, ['q', 'q'.repeat(n)]] })),
  ];
  if (validated) {
    const names = op.query.map((p) => p.name);
    arbitraries.push(
      fc.tuple(fc.constantFrom(...names), hostileText).map(([name, value]) =>
        mutate(draft, `query.hostile:${name}`, false, {
          query: [...draft.query.filter(([n]) => n !== name), [name, percentEncode(value)]],
        }),
      ),
      fc
        .constantFrom(...names)
        .map((name) => mutate(draft, `query.repeated:${name}`, true, { query: [...draft.query, [name, '1'], [name, '2']] })),
    );
  }
  return fc.oneof(...arbitraries);
}

function hostileDeclaredHeader(draft: Draft): fc.Arbitrary<Draft> {
  const declared = draft.operation.headers;
  return fc.tuple(fc.constantFrom(...declared), hostileText, fc.boolean()).map(([parameter, value, isRepeated]) => {
    const maxLength = parameter.schema['maxLength'];
    const isTooLong = typeof maxLength === 'number' && value.length > maxLength;
    const others = draft.headers.filter(([name]) => name !== parameter.name || isRepeated);
    return mutate(draft, `header.hostile:${parameter.name}${isRepeated ? '(repeated)' : ''}`, isTooLong && !isRepeated, {
      // Control characters cannot go through Node's client; the raw framings send them.
      headers: [...others, [parameter.name, withoutControls(latin1(value))]],
    });
  });
}

const noiseHeaders: ReadonlyArray<readonly [string, string]> = [
  ['x-request-id', 'short'],
  ['x-request-id', 'a'.repeat(300)],
  ['x-request-id', '../../etc'],
  ['x-request-id', latin1('ünïcødé-request-id')],
  ['accept', 'application/xml'],
  ['accept', '*/*;q=0'],
  ['accept-encoding', 'gzip, br, zstd'],
  ['accept-charset', 'utf-16'],
  ['expect', '100-continue'],
  ['connection', 'upgrade'],
  ['upgrade', 'websocket'],
  ['te', 'trailers'],
  ['x-forwarded-for', '1.2.3.4, 5.6.7.8'],
  ['forwarded', 'for=unknown'],
  ['range', 'bytes=0-1'],
  ['if-none-match', '*'],
  ['origin', 'null'],
  ['cookie', 'a=1; a=2'],
  ['x-hearth-cluster-id', 'cluster_aaaaaaaa'],
  ['x-emoji', latin1('😀')],
  ['x-latin1', '\u00ff\u00fe\u00e9'],
];

function headerNoise(draft: Draft): fc.Arbitrary<Draft> {
  return fc.oneof(
    fc
      .subarray([...noiseHeaders], { minLength: 1, maxLength: 4 })
      .map((extra) =>
        mutate(draft, `header.noise:${extra.map(([n]) => n).join('+')}`, false, { headers: [...draft.headers, ...extra] }),
      ),
    fc.integer({ min: 50, max: 400 }).map((n) =>
      mutate(draft, `header.many:${n}`, false, {
        headers: [...draft.headers, ...Array.from({ length: n }, (_, i): [string, string] => [`x-h${i}`, String(i)])],
      }),
    ),
  );
}

function hostHeader(draft: Draft): fc.Arbitrary<Draft> {
  return fc.oneof(
    fc.constant(mutate(draft, 'host.none', false, { host: 'none' })),
    fc
      .constantFrom(['a', 'b'], ['127.0.0.1', '127.0.0.1'], [latin1('hôst.example')], ['h'.repeat(3_000)], ['[::1'], [''])
      .map((values) => mutate(draft, `host:${values.map((v) => v.slice(0, 20)).join('|')}`, false, { host: values })),
  );
}

function hugeHeader(draft: Draft): fc.Arbitrary<Draft> {
  return fc
    .integer({ min: 17_000, max: 70_000 })
    .map((n) => mutate(draft, `header.huge:${n}`, true, { headers: [...draft.headers, ['x-huge', 'h'.repeat(n)]] }));
}

function methodChange(draft: Draft): fc.Arbitrary<Draft> {
  return fc.constantFrom('PUT', 'PATCH', 'OPTIONS', 'HEAD', 'TRACE', 'DELETE', 'POST', 'GET').map((method) => {
    const isSame = method === draft.method || (method === 'HEAD' && draft.method === 'GET');
    return mutate(
      draft,
      `method:${method}`,
      !isSame && method !== 'OPTIONS' && method !== 'HEAD' && method !== 'GET' && method !== 'POST' && method !== 'DELETE',
      { method },
    );
  });
}

function framingChange(draft: Draft): fc.Arbitrary<Draft> {
  return fc
    .constantFrom(...(Object.keys(framings) as Framing[]))
    .map((framing) => mutate(draft, `framing:${framing}`, framings[framing], { framing }));
}

function finish(draft: Draft): FuzzRequest {
  let path = draft.operation.pathTemplate;
  for (const [name, value] of Object.entries(draft.pathValues)) path = path.replace(`{${name}}`, value);
  path += draft.pathSuffix;
  const query = draft.query.map(([name, value]) => (value === '' ? name : `${name}=${value}`)).join('&');
  const target = query === '' ? path : `${path}${path.includes('?') ? '&' : '?'}${query}`;
  const body =
    draft.body === undefined
      ? undefined
      : 'bytes' in draft.body
        ? draft.body.bytes
        : Buffer.from(JSON.stringify(draft.body.json) ?? 'null');
  const headers = [...draft.headers];
  if (draft.contentType !== undefined && body !== undefined) headers.push(['content-type', draft.contentType]);
  const request: FuzzRequest = {
    operation: draft.operation.name,
    method: draft.method,
    target,
    headers,
    host: draft.host,
    body,
    raw: draft.framing === undefined ? undefined : frame(draft.framing, draft.method, target, headers, body),
    mutations: draft.mutations,
    // HTTP/1.1 without Host must be refused (raw framing always sends one).
    isInvalid: draft.isInvalid || (draft.host === 'none' && draft.framing === undefined),
    isMutating: draft.method !== 'GET' && draft.method !== 'HEAD',
    operationAuth: draft.operation.auth,
    caller: draft.caller,
  };
  // fast-check prints requests it reports in this form rather than as kilobytes of Buffer bytes.
  return Object.assign(request, { [fc.toStringMethod]: () => describeRequest(request) });
}
