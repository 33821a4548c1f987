/**
 * Incremental HTTP/1.x request parser with micro_http's rules (behaviour.md#wire-format): methods
 * GET/PUT/PATCH/DELETE, versions 1.0/1.1, 1024-byte line limits, Content-Length bodies only,
 * `Expect: 100-continue`, and the payload limit checked on the header.
 */
export type Method = 'GET' | 'PUT' | 'PATCH' | 'DELETE';

export interface HttpRequest {
  method: Method;
  uri: string;
  /** micro_http's `get_abs_path`: `http://host/x` becomes `/x`; other forms become ``. */
  path: string;
  version: 'HTTP/1.0' | 'HTTP/1.1';
  /** null when Content-Length is 0 or absent. */
  body: Buffer | null;
}

export type ParseEvent =
  { kind: 'request'; request: HttpRequest } | { kind: 'continue'; version: string } | { kind: 'error'; reason: string };

const LINE_LIMIT = 1024;
const METHODS = new Set(['GET', 'PUT', 'PATCH', 'DELETE']);
const KNOWN_HEADERS = new Set([
  'content-length',
  'content-type',
  'expect',
  'transfer-encoding',
  'server',
  'accept',
  'accept-encoding',
]);

export function absPath(uri: string): string {
  if (uri.startsWith('http://')) {
    const rest = uri.slice('http://'.length);
    const slash = rest.indexOf('/');
    return slash < 0 ? '' : rest.slice(slash);
  }
  return uri.startsWith('/') ? uri : '';
}

class ParseFailure extends Error {}

export class RequestParser {
  private buf: Buffer = Buffer.alloc(0);
  private state: 'line' | 'headers' | 'body' = 'line';
  private pending: (Omit<HttpRequest, 'body'> & { length: number; expect: boolean }) | undefined;
  private skip = 0;

  constructor(private readonly payloadLimit: number) {}

  push(chunk: Buffer): ParseEvent[] {
    if (this.skip > 0) {
      const n = Math.min(this.skip, chunk.length);
      this.skip -= n;
      chunk = chunk.subarray(n);
    }
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const events: ParseEvent[] = [];
    try {
      while (this.step(events));
    } catch (err) {
      if (!(err instanceof ParseFailure)) throw err;
      events.push({ kind: 'error', reason: err.message });
      this.reset();
    }
    return events;
  }

  private reset(): void {
    this.buf = Buffer.alloc(0);
    this.state = 'line';
    this.pending = undefined;
  }

  private takeLine(tooLong: (line: Buffer) => string): string | undefined {
    const idx = this.buf.indexOf('\r\n');
    if (idx < 0) {
      if (this.buf.length >= LINE_LIMIT) throw new ParseFailure(tooLong(this.buf.subarray(0, LINE_LIMIT)));
      return undefined;
    }
    if (idx > LINE_LIMIT) throw new ParseFailure(tooLong(this.buf.subarray(0, LINE_LIMIT)));
    const line = this.buf.subarray(0, idx).toString('latin1');
    this.buf = this.buf.subarray(idx + 2);
    return line;
  }

  private step(events: ParseEvent[]): boolean {
    if (this.state === 'line') {
      const line = this.takeLine(() => 'Invalid request.');
      if (line === undefined) return false;
      this.pending = { ...parseRequestLine(line), length: 0, expect: false };
      this.state = 'headers';
      return true;
    }
    if (this.state === 'headers') {
      const line = this.takeLine((b) => `Invalid header. Reason: Invalid content length. Header: ${b.toString('utf8')}`);
      if (line === undefined) return false;
      const req = this.pending as NonNullable<typeof this.pending>;
      if (line.length > 0) {
        parseHeaderLine(line, req);
        return true;
      }
      if (req.length === 0) {
        const { length: _l, expect: _e, ...rest } = req;
        events.push({ kind: 'request', request: { ...rest, body: null } });
        this.state = 'line';
        return true;
      }
      if (req.length > this.payloadLimit) {
        // The body that follows is discarded rather than parsed as a new request.
        this.skip = Math.max(0, req.length - this.buf.length);
        throw new ParseFailure(
          `Request payload with size ${req.length} is larger than the limit of ${this.payloadLimit} allowed by server.`,
        );
      }
      if (req.expect) events.push({ kind: 'continue', version: req.version });
      this.state = 'body';
      return true;
    }
    const req = this.pending as NonNullable<typeof this.pending>;
    if (this.buf.length < req.length) return false;
    const body = Buffer.from(this.buf.subarray(0, req.length));
    this.buf = this.buf.subarray(req.length);
    const { length: _l, expect: _e, ...rest } = req;
    events.push({ kind: 'request', request: { ...rest, body } });
    this.state = 'line';
    return true;
  }
}

function parseRequestLine(line: string): Omit<HttpRequest, 'body'> {
  const sp1 = line.indexOf(' ');
  const sp2 = sp1 < 0 ? -1 : line.indexOf(' ', sp1 + 1);
  if (sp1 < 0 || sp2 < 0) throw new ParseFailure('Invalid request.');
  const method = line.slice(0, sp1);
  const uri = line.slice(sp1 + 1, sp2);
  const version = line.slice(sp2 + 1);
  if (!METHODS.has(method)) throw new ParseFailure('Invalid HTTP Method: Unsupported HTTP method.');
  if (uri.length === 0) throw new ParseFailure('Invalid URI: Empty URI not allowed.');
  if (version !== 'HTTP/1.0' && version !== 'HTTP/1.1') {
    throw new ParseFailure('Invalid HTTP Version: Unsupported HTTP version.');
  }
  return { method: method as Method, uri, path: absPath(uri), version };
}

function parseHeaderLine(line: string, req: { length: number; expect: boolean }): void {
  const colon = line.indexOf(':');
  if (colon < 0) throw new ParseFailure(`Invalid header. Reason: Header is incorrectly formatted. Key: ${line}`);
  const rawKey = line.slice(0, colon);
  const rawValue = line.slice(colon + 1);
  const key = rawKey.trim().toLowerCase();
  const value = rawValue.trim();
  if (!KNOWN_HEADERS.has(key)) return;
  if (key === 'content-length') {
    const n = /^[0-9]+$/.test(value) ? Number(value) : NaN;
    if (!Number.isFinite(n) || n > 0xffffffff) {
      throw new ParseFailure(`Invalid header. Reason: Invalid value. Key:${rawKey}; Value:${rawValue}`);
    }
    req.length = n;
  } else if (key === 'expect' && value === '100-continue') {
    req.expect = true;
  }
  // Unsupported Content-Type/Accept/Transfer-Encoding values are ignored (behaviour.md#wire-format).
}
