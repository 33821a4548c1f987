/**
 * What MMDS answers a guest's HTTP request (behaviour.md#endpoint-mmds, Firecracker's `mmds::convert_to_response`):
 * the path is a JSON pointer into the data store; `Accept: application/json` gets JSON, anything
 * else the IMDS text form (an object's keys one per line, `/` after sub-objects; a string as is;
 * any other value 501). Version 2 needs a session token from `PUT /latest/api/token`; version 1
 * checks a token only when one is sent. Pure apart from the token authority's clock.
 */
import type { MmdsConfig } from '../vmm/types.js';
import type { GuestRequest } from './guest-request.js';
import type { TokenAuthority } from './token-authority.js';
import { MAX_TOKEN_TTL_SECONDS, MIN_TOKEN_TTL_SECONDS } from './token-authority.js';

export interface GuestResponse {
  status: number;
  contentType: 'application/json' | 'text/plain';
  body: string;
  /** Set on 405: the methods MMDS accepts. */
  allow?: string;
}

export const TOKEN_PATH = '/latest/api/token';
const TOKEN_HEADERS = ['x-metadata-token', 'x-aws-ec2-metadata-token'];
const TTL_HEADERS = ['x-metadata-token-ttl-seconds', 'x-aws-ec2-metadata-token-ttl-seconds'];

const REASONS: Record<number, string> = {
  200: 'OK',
  400: 'Bad Request',
  401: 'Unauthorized',
  404: 'Not Found',
  405: 'Method Not Allowed',
  501: 'Not Implemented',
};

export const MSG = {
  invalidUri: 'Invalid URI.',
  methodNotAllowed: 'Not allowed HTTP method.',
  noToken: 'No MMDS token provided. Use `X-metadata-token` or `X-aws-ec2-metadata-token` header to specify the session token.',
  invalidToken: 'MMDS token not valid.',
  noTtl:
    'Token time to live value not found. Use `X-metadata-token-ttl-seconds` or `X-aws-ec2-metadata-token-ttl-seconds` header to specify the token lifetime.',
  forwardedFor: 'Invalid header. Reason: Unsupported header name. Key: X-Forwarded-For',
  unsupportedValue: 'Cannot retrieve value. The value has an invalid format.',
  notFound: (path: string) => `Resource not found: ${path}.`,
  badTtl: (value: string) =>
    `Invalid time to live value provided for token: ${value}. Please provide a value between ${String(MIN_TOKEN_TTL_SECONDS)} and ${String(MAX_TOKEN_TTL_SECONDS)}.`,
};

function text(status: number, body: string): GuestResponse {
  return { status, contentType: 'text/plain', body };
}

function header(req: GuestRequest, names: readonly string[]): string | undefined {
  for (const n of names) {
    const v = req.headers.get(n);
    if (v !== undefined) return v;
  }
  return undefined;
}

/** The absolute path of a request target (`http://host/x` → `/x`), without query; `` when invalid. */
function absPath(uri: string): string {
  let path = uri;
  if (path.startsWith('http://')) {
    const slash = path.indexOf('/', 'http://'.length);
    path = slash < 0 ? '' : path.slice(slash);
  }
  if (!path.startsWith('/')) return '';
  const q = path.indexOf('?');
  return q < 0 ? path : path.slice(0, q);
}

/** RFC 6901 JSON pointer lookup; a trailing `/` names the same node (`/latest/` = `/latest`). */
export function lookup(data: unknown, path: string): { found: boolean; value: unknown } {
  const trimmed = path.replace(/\/+$/, '');
  if (trimmed === '') return { found: true, value: data };
  let node: unknown = data;
  for (const raw of trimmed.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(node)) {
      if (!/^(0|[1-9][0-9]*)$/.test(key) || Number(key) >= node.length) return { found: false, value: undefined };
      node = node[Number(key)];
    } else if (node !== null && typeof node === 'object' && Object.hasOwn(node, key)) {
      node = (node as Record<string, unknown>)[key];
    } else {
      return { found: false, value: undefined };
    }
  }
  return { found: true, value: node };
}

/** The IMDS text form of a value, or undefined when it has none (numbers, booleans, null, arrays). */
export function imdsText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  // serde_json's map is ordered by key bytes
  const keys = Object.keys(value).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const entries = value as Record<string, unknown>;
  return keys
    .map((k) => {
      const v = entries[k];
      return v !== null && typeof v === 'object' && !Array.isArray(v) ? `${k}/` : k;
    })
    .join('\n');
}

export interface MmdsView {
  config: MmdsConfig;
  /** The data store now (null when never PUT). */
  data(): unknown;
  tokens: TokenAuthority;
}

export function mmdsGuestResponse(req: GuestRequest, mmds: MmdsView): GuestResponse {
  const path = absPath(req.uri);
  if (path === '') return text(400, MSG.invalidUri);
  const v2 = mmds.config.version === 'V2';
  if (req.method === 'GET') return get(req, path, mmds, v2);
  if (req.method === 'PUT' && v2) return put(req, path, mmds);
  return { ...text(405, MSG.methodNotAllowed), allow: v2 ? 'GET, PUT' : 'GET' };
}

function get(req: GuestRequest, path: string, mmds: MmdsView, v2: boolean): GuestResponse {
  const token = header(req, TOKEN_HEADERS);
  if (token === undefined && v2) return text(401, MSG.noToken);
  if (token !== undefined && !mmds.tokens.isValid(token)) return text(401, MSG.invalidToken);
  const { found, value } = lookup(mmds.data() ?? {}, path);
  if (!found) return text(404, MSG.notFound(path));
  const json = !mmds.config.imds_compat && (req.headers.get('accept') ?? '').includes('application/json');
  if (json) return { status: 200, contentType: 'application/json', body: JSON.stringify(value) };
  const body = imdsText(value);
  return body === undefined ? text(501, MSG.unsupportedValue) : text(200, body);
}

function put(req: GuestRequest, path: string, mmds: MmdsView): GuestResponse {
  if (path !== TOKEN_PATH) return text(404, MSG.notFound(path));
  if (req.headers.has('x-forwarded-for')) return text(400, MSG.forwardedFor);
  const ttl = header(req, TTL_HEADERS);
  if (ttl === undefined) return text(400, MSG.noTtl);
  const seconds = /^[0-9]{1,10}$/.test(ttl) ? Number(ttl) : NaN;
  if (!(seconds >= MIN_TOKEN_TTL_SECONDS && seconds <= MAX_TOKEN_TTL_SECONDS)) return text(400, MSG.badTtl(ttl));
  return text(200, mmds.tokens.issue(seconds));
}

/** The response on the wire; `close` adds `Connection: close` (the endpoint then ends the connection). */
export function serializeGuestResponse(res: GuestResponse, version: string, close: boolean): Buffer {
  const body = Buffer.from(res.body);
  const lines = [
    `${version === 'HTTP/1.0' ? 'HTTP/1.0' : 'HTTP/1.1'} ${String(res.status)} ${REASONS[res.status] ?? ''}`,
    'Server: Firecracker API',
    ...(close ? ['Connection: close'] : []),
    `Content-Type: ${res.contentType}`,
    `Content-Length: ${String(body.length)}`,
    ...(res.allow !== undefined ? [`Allow: ${res.allow}`] : []),
  ];
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`), body]);
}
