import createClient, { type Client } from 'openapi-fetch';
import type { paths } from './generated/openapi.js';
import { problemOf } from './hearth-error.js';

export type ApiClient = Client<paths>;

/** What openapi-fetch answers: the parsed body on success, else the error body, and the response. */
interface Answer<Data> {
  readonly data?: Data;
  readonly error?: unknown;
  readonly response: Response;
}

/** The body of a successful answer; a refusal or failure becomes the `HearthError` of its problem. */
export async function bodyOf<Data>(call: Promise<Answer<Data>>): Promise<Data> {
  const { data, error, response } = await call;
  if (!response.ok) throw problemOf(response, error);
  return data as Data;
}

export function createApiClient(baseUrl: string, fetch: (request: Request) => Promise<Response>): ApiClient {
  return createClient<paths>({ baseUrl: baseUrl.replace(/\/+$/, ''), fetch });
}

/** `If-Match` for a version: the ETag the Manager gives a VM is its version in quotes. */
export function ifMatch(version: number | undefined): { 'if-match'?: string } {
  return version === undefined ? {} : { 'if-match': `"${version}"` };
}
