/**
 * micro_http response serialization (behaviour.md#wire-format): `HTTP/1.1 <code> \r\n` with no reason phrase,
 * `Server`, `Connection: keep-alive`, optional `Deprecation: true`, then Content-Type and
 * Content-Length only when there is a body.
 */
export interface ApiResponse {
  status: number;
  body?: string;
  deprecation?: boolean;
  /** Runs once the response bytes were handed to the socket (fatal restore exits, behaviour.md#fatal-errors). */
  afterWrite?: () => void;
}

export function serializeResponse(res: ApiResponse, version = 'HTTP/1.1'): Buffer {
  let head = `${version} ${res.status} \r\nServer: Firecracker API\r\nConnection: keep-alive\r\n`;
  if (res.deprecation) head += 'Deprecation: true\r\n';
  if (res.body === undefined) return Buffer.from(`${head}\r\n`);
  const body = Buffer.from(res.body);
  head += `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head), body]);
}

/** The raw bytes sent to the 11th concurrent connection before it is dropped. */
export const TOO_MANY_CONNECTIONS = Buffer.from(
  'HTTP/1.1 503\r\nServer: Firecracker API\r\nConnection: close\r\nContent-Length: 40\r\n\r\n{ "error": "Too many open connections" }',
);

/** Transport-level parse error: deliberately odd JSON with a raw newline (behaviour.md#wire-format). */
export function parseErrorResponse(reason: string): ApiResponse {
  return { status: 400, body: `{ "error": "${reason}\nAll previous unanswered requests will be dropped." }` };
}

export function faultResponse(status: number, message: string, deprecation = false): ApiResponse {
  return { status, body: JSON.stringify({ fault_message: message }), deprecation };
}
