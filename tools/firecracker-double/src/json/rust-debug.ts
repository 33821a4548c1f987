/** Rust `{:?}` formatting of a string: quoted, with Rust's escapes. */
export function rustDebugString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0) as number;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (c === 0) out += '\\0';
    else if (c < 0x20 || c === 0x7f) out += `\\u{${c.toString(16)}}`;
    else out += ch;
  }
  return out + '"';
}

/** serde's "expected one of" list: `a`, `` `a` or `b` ``, `one of `a`, `b`, `c``. */
export function expectedList(names: readonly string[], noun: 'fields' | 'variants'): string {
  const q = names.map((x) => `\`${x}\``);
  if (q.length === 0) return `there are no ${noun}`;
  if (q.length === 1) return `expected ${q[0]}`;
  if (q.length === 2) return `expected ${q[0]} or ${q[1]}`;
  return `expected one of ${q.join(', ')}`;
}
