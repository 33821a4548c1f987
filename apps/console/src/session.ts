import { Hearth } from '@hearth/sdk';

/**
 * The signed-in user's API token, kept in this tab's sessionStorage: it is gone when the tab
 * closes, and other tabs and sites never see it. The console's static files need no token; every
 * API call it makes carries this one.
 */
const tokenKey = 'hearth.token';

export interface Session {
  readonly token: string;
  readonly hearth: Hearth;
  /** The Manager's origin (the console is served by the Manager it manages). */
  readonly baseUrl: string;
}

export function openSession(token: string, storage: Storage = sessionStorage, baseUrl = location.origin): Session {
  storage.setItem(tokenKey, token);
  return { token, baseUrl, hearth: new Hearth({ baseUrl, token }) };
}

/** The session kept in this tab, if the user signed in before a reload. */
export function restoreSession(storage: Storage = sessionStorage, baseUrl = location.origin): Session | undefined {
  const token = storage.getItem(tokenKey);
  return token === null || token === '' ? undefined : openSession(token, storage, baseUrl);
}

export function closeSession(storage: Storage = sessionStorage): void {
  storage.removeItem(tokenKey);
}
