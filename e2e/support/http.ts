import { fetch, type Dispatcher, type RequestInit } from 'undici';

/** A response of the public API (or an Agent's), with JSON bodies parsed. */
export interface ApiResponse<T> {
  readonly status: number;
  readonly headers: Headers;
  readonly body: T;
}

/**
 * One HTTP request from a test to a Manager or an Agent. An object body is sent as JSON, a string
 * as it is (to send malformed JSON); a JSON or problem+json answer is parsed.
 */
export async function request<T>(
  base: string,
  method: string,
  route: string,
  body?: unknown,
  headers: Record<string, string> = {},
  /** How to connect: an Agent is called over mutual TLS with a Manager's certificate (`trust.managerDispatcher`). */
  dispatcher?: Dispatcher,
): Promise<ApiResponse<T>> {
  // An empty header is none: a test of a request without a token says `authorization: ''`.
  const sent = Object.fromEntries(Object.entries(headers).filter(([, value]) => value !== ''));
  const init: RequestInit = {
    method,
    headers: sent,
    signal: AbortSignal.timeout(30_000),
    ...(dispatcher === undefined ? {} : { dispatcher }),
  };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
  }
  const response = await fetch(`${base}${route}`, init);
  const text = await response.text();
  let parsed: unknown = text;
  if (text.length > 0 && /json/.test(response.headers.get('content-type') ?? '')) parsed = JSON.parse(text);
  return { status: response.status, headers: response.headers as unknown as Headers, body: parsed as T };
}
