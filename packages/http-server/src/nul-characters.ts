/**
 * Where a request holds the character U+0000 (in a string or a key), as a JSON pointer below
 * `part` (`body/facts/agentVersion`), or undefined. PostgreSQL stores it in neither text nor
 * jsonb, and no path, name or version means anything with it. Walked without recursion: a body
 * may nest as deep as its size allows.
 */
export function nulCharacterField(value: unknown, part: string): string | undefined {
  const pending: Array<{ value: unknown; path: string }> = [{ value, path: part }];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    if (typeof next.value === 'string') {
      if (next.value.includes('\u0000')) return next.path;
    } else if (next.value !== null && typeof next.value === 'object') {
      for (const [key, inner] of Object.entries(next.value)) {
        const path = `${next.path}/${key}`;
        if (key.includes('\u0000')) return path;
        pending.push({ value: inner, path });
      }
    }
  }
  return undefined;
}
