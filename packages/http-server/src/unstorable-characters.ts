import { Stream } from 'node:stream';

/** Where a request holds a character no database stores, and what is wrong with it. */
export interface UnstorableCharacter {
  /** A JSON pointer below the request part: `body/facts/agentVersion`. */
  readonly field: string;
  readonly message: string;
}

/** A UTF-16 surrogate without its other half: JSON's `"\udfff"` parses to one, and it is no Unicode character. */
const loneSurrogate = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * Where a request holds, in a string or a key, U+0000 or a lone surrogate, as a JSON pointer
 * below `part`, or undefined. PostgreSQL stores U+0000 in neither text nor jsonb and refuses a
 * lone surrogate in jsonb (and text would get U+FFFD in its place); no path, name or version means
 * anything with either. Walked without recursion: a body may nest as deep as its size allows.
 * A raw body (a stream) is not walked (see `isParsedJson`).
 */
export function unstorableCharacterOf(value: unknown, part: string): UnstorableCharacter | undefined {
  const pending: Array<{ value: unknown; path: string }> = [{ value, path: part }];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    if (typeof next.value === 'string') {
      const message = problemOf(next.value);
      if (message !== undefined) return { field: next.path, message };
    } else if (isParsedJson(next.value)) {
      for (const [key, inner] of Object.entries(next.value)) {
        const path = `${next.path}/${key}`;
        const message = problemOf(key);
        if (message !== undefined) return { field: path, message };
        pending.push({ value: inner, path });
      }
    }
  }
  return undefined;
}

/**
 * An object or array of what the request carried. A raw body (a stream a route reads itself) is
 * not walked: its fields are the server's, not the caller's.
 */
function isParsedJson(value: unknown): value is object {
  return value !== null && typeof value === 'object' && !(value instanceof Stream);
}

function problemOf(text: string): string | undefined {
  if (text.includes('\u0000')) return 'must not contain the character U+0000';
  if (loneSurrogate.test(text)) return 'must be Unicode text: a surrogate without its other half is none';
  return undefined;
}
