// The Manager's public API for the scripts (`npm start`, `npm run demo`, `npm run images`): one
// client, one way to find the API token.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** Where the Manager keeps the admin token it made at its first start (in its MANAGER_DATA_DIR). */
export function adminTokenFile(managerDataDir) {
  return path.join(managerDataDir, 'admin-token');
}

/**
 * The API token to use: HEARTH_TOKEN when set, else the admin token in `managerDataDir` (the one
 * `npm start` uses), else undefined.
 */
export function findToken(env, managerDataDir) {
  if (env.HEARTH_TOKEN !== undefined && env.HEARTH_TOKEN !== '') return env.HEARTH_TOKEN.trim();
  const file = adminTokenFile(managerDataDir);
  return existsSync(file) ? readFileSync(file, 'utf8').trim() : undefined;
}

/**
 * A client of the Manager at `baseUrl` sending `token()` (read on each request: the file appears
 * once the Manager has started). Each call resolves to `{ status, body }`, the body parsed when it
 * is JSON; a request that cannot be sent rejects.
 */
export function managerApi(baseUrl, token) {
  return async function api(method, route, body, timeoutMs = 120_000) {
    const secret = token();
    const headers = {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(secret === undefined ? {} : { authorization: `Bearer ${secret}` }),
    };
    const response = await fetch(`${baseUrl}${route}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    let parsed = text;
    try {
      if (text.length > 0 && /json/.test(response.headers.get('content-type') ?? '')) parsed = JSON.parse(text);
    } catch {
      // keep the text
    }
    return { status: response.status, body: parsed };
  };
}

/** A problem answer in one line: status, code and detail. */
export function problemText({ status, body }) {
  if (body !== null && typeof body === 'object')
    return `${status} ${body.code ?? ''} ${body.detail ?? body.title ?? JSON.stringify(body)}`;
  return `${status} ${String(body).slice(0, 300)}`;
}
