/**
 * Incremental parser of the HTTP/1.x requests a guest sends to MMDS: request line, headers (kept,
 * lower-cased: MMDS reads its token headers) and a Content-Length body. Bounded: a request head
 * over 8 KiB or a body over 64 KiB is a parse error, after which the connection is closed.
 */
export interface GuestRequest {
  method: string;
  uri: string;
  version: string;
  headers: ReadonlyMap<string, string>;
}

export type GuestParseEvent = { kind: 'request'; request: GuestRequest } | { kind: 'error'; reason: string };

const HEAD_LIMIT_BYTES = 8 * 1024;
const BODY_LIMIT_BYTES = 64 * 1024;

export class GuestRequestParser {
  private buf: Buffer = Buffer.alloc(0);
  private failed = false;

  push(chunk: Buffer): GuestParseEvent[] {
    if (this.failed) return [];
    this.buf = this.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk]);
    const events: GuestParseEvent[] = [];
    for (;;) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) {
        if (this.buf.length > HEAD_LIMIT_BYTES) events.push(this.fail('Request head too long.'));
        return events;
      }
      const head = this.buf.subarray(0, end).toString('latin1');
      const [line = '', ...fields] = head.split('\r\n');
      const parts = line.split(' ');
      if (parts.length !== 3 || !/^HTTP\/1\.[01]$/.test(parts[2] ?? '')) {
        events.push(this.fail('Invalid request line.'));
        return events;
      }
      const headers = new Map<string, string>();
      for (const field of fields) {
        const colon = field.indexOf(':');
        if (colon <= 0) {
          events.push(this.fail('Invalid header.'));
          return events;
        }
        headers.set(field.slice(0, colon).trim().toLowerCase(), field.slice(colon + 1).trim());
      }
      const length = Number(headers.get('content-length') ?? '0');
      if (!Number.isInteger(length) || length < 0 || length > BODY_LIMIT_BYTES) {
        events.push(this.fail('Invalid content length.'));
        return events;
      }
      if (this.buf.length < end + 4 + length) return events;
      this.buf = this.buf.subarray(end + 4 + length);
      const [method = '', uri = '', version = ''] = parts;
      events.push({ kind: 'request', request: { method, uri, version, headers } });
    }
  }

  private fail(reason: string): GuestParseEvent {
    this.failed = true;
    this.buf = Buffer.alloc(0);
    return { kind: 'error', reason };
  }
}
