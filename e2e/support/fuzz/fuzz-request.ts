import type { Caller } from './authorization.js';
import type { OperationAuth } from './openapi-operations.js';

/** One request of the fuzz, as it goes on the wire, with what the fuzzer did to make it. */
export interface FuzzRequest {
  /** The operation it was made from: `POST /v1/vms/{id}/stop`. */
  readonly operation: string;
  readonly method: string;
  /** The request-target: path and query, possibly with odd bytes (latin1: one character a byte). */
  readonly target: string;
  /** In order; a name may repeat. Values are latin1 (one character a byte). */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  /** `Host`: the server's (as every client sends it), none, or these values. */
  readonly host: 'server' | 'none' | readonly string[];
  readonly body: Buffer | undefined;
  /** When set, these bytes are sent as they are on a connection of their own (malformed framing). */
  readonly raw: Buffer | undefined;
  /** The mutations applied, in order: `body.drop-required:name`, `header.huge`, … */
  readonly mutations: readonly string[];
  /** True when a mutation makes the request invalid: it must be refused. */
  readonly isInvalid: boolean;
  /** True when it may change the database if accepted (not GET or HEAD). */
  readonly isMutating: boolean;
  /** Who may call the operation it was made from. */
  readonly operationAuth: OperationAuth;
  /** Whom its Authorization header makes the sender. */
  readonly caller: Caller;
}

/** A request in a form a person can read and replay (long values shortened, sizes kept). */
export function describeRequest(request: FuzzRequest): string {
  const lines = [`${request.method} ${shorten(request.target)}   [${request.mutations.join(', ') || 'valid'}]`];
  if (request.host === 'none') lines.push('(no Host header)');
  else if (request.host !== 'server') for (const value of request.host) lines.push(`host: ${shorten(value)}`);
  for (const [name, value] of request.headers) lines.push(`${name}: ${shorten(value)}`);
  if (request.body !== undefined) lines.push('', shorten(request.body.toString('latin1')));
  if (request.raw !== undefined) lines.push('raw bytes (JSON string):', shorten(JSON.stringify(request.raw.toString('latin1'))));
  return lines.join('\n');
}

function shorten(text: string, max = 400): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max / 2)}…<${text.length - max} more characters>…${text.slice(-max / 4)}`;
}
