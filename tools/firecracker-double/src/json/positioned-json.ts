/**
 * A JSON parser that keeps token positions, so that deserialization errors can carry
 * serde_json's `at line L column C` suffix (behaviour.md#request-errors).
 * Columns are 1-based positions of the last consumed character, as serde_json reports them.
 */
export interface Pos {
  line: number;
  column: number;
}

interface Base {
  start: Pos;
  end: Pos;
}
export interface JEntry {
  key: string;
  keyEnd: Pos;
  value: JNode;
}
export type JNode =
  | (Base & { kind: 'object'; entries: JEntry[] })
  | (Base & { kind: 'array'; items: JNode[] })
  | (Base & { kind: 'string'; value: string })
  | (Base & { kind: 'number'; raw: string })
  | (Base & { kind: 'bool'; value: boolean })
  | (Base & { kind: 'null' });

/** A serde_json-style error: `message` already includes the position suffix. */
export class SerdeError extends Error {}

export function at(msg: string, pos: Pos): SerdeError {
  return new SerdeError(`${msg} at line ${pos.line} column ${pos.column}`);
}

export function parsePositioned(text: string): JNode {
  let i = 0;
  let line = 1;
  let lineStart = 0;
  const n = text.length;

  const posOf = (idx: number): Pos => ({ line, column: idx - lineStart + 1 });
  const eofPos = (): Pos => ({ line, column: n - lineStart });
  const fail = (msg: string, idx: number): never => {
    throw at(msg, idx >= n ? eofPos() : posOf(idx));
  };

  const skipWs = (): void => {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x0a) {
        i++;
        line++;
        lineStart = i;
      } else if (c === 0x20 || c === 0x09 || c === 0x0d) i++;
      else break;
    }
  };

  const parseString = (): { value: string; start: Pos; end: Pos } => {
    const start = posOf(i);
    i++; // opening quote
    let out = '';
    for (;;) {
      if (i >= n) fail('EOF while parsing a string', n);
      const ch = text[i] as string;
      const code = ch.charCodeAt(0);
      if (ch === '"') {
        const end = posOf(i);
        i++;
        return { value: out, start, end };
      }
      if (code < 0x20) fail('control character (\\u0000-\\u001F) found while parsing a string', i);
      if (ch === '\\') {
        i++;
        if (i >= n) fail('EOF while parsing a string', n);
        const e = text[i] as string;
        const simple: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
        if (simple[e] !== undefined) {
          out += simple[e];
          i++;
        } else if (e === 'u') {
          const hex = text.slice(i + 1, i + 5);
          if (hex.length < 4) fail('EOF while parsing a string', n);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail('invalid escape', i + 4);
          out += String.fromCharCode(parseInt(hex, 16));
          i += 5;
        } else fail('invalid escape', i);
      } else {
        out += ch;
        i++;
      }
    }
  };

  const parseValue = (ctx: string): JNode => {
    skipWs();
    if (i >= n) fail(`EOF while parsing ${ctx}`, n);
    const c = text[i] as string;
    if (c === '{') return parseObject();
    if (c === '[') return parseArray();
    if (c === '"') {
      const s = parseString();
      return { kind: 'string', ...s };
    }
    if (c === '-' || (c >= '0' && c <= '9')) {
      const start = posOf(i);
      const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(i));
      if (!m || m[0] === '-') fail('invalid number', i + 1);
      const raw = (m as RegExpExecArray)[0];
      i += raw.length;
      return { kind: 'number', raw, start, end: posOf(i - 1) };
    }
    for (const [word, node] of [
      ['true', { kind: 'bool', value: true }],
      ['false', { kind: 'bool', value: false }],
      ['null', { kind: 'null' }],
    ] as const) {
      if (c === word[0]) {
        const start = posOf(i);
        for (let k = 0; k < word.length; k++) {
          if (i + k >= n) fail(`EOF while parsing ${ctx}`, n);
          if (text[i + k] !== word[k]) fail('expected ident', i + k);
        }
        i += word.length;
        return { ...node, start, end: posOf(i - 1) } as JNode;
      }
    }
    return fail('expected value', i);
  };

  const parseObject = (): JNode => {
    const start = posOf(i);
    i++;
    const entries: JEntry[] = [];
    skipWs();
    if (text[i] === '}') {
      const end = posOf(i);
      i++;
      return { kind: 'object', entries, start, end };
    }
    for (;;) {
      skipWs();
      if (i >= n) fail('EOF while parsing an object', n);
      if (text[i] !== '"') fail(text[i] === '}' ? 'trailing comma' : 'key must be a string', i);
      const k = parseString();
      skipWs();
      if (i >= n) fail('EOF while parsing an object', n);
      if (text[i] !== ':') fail('expected `:`', i);
      i++;
      const value = parseValue('a value');
      entries.push({ key: k.value, keyEnd: k.end, value });
      skipWs();
      if (i >= n) fail('EOF while parsing an object', n);
      if (text[i] === ',') {
        i++;
        continue;
      }
      if (text[i] === '}') {
        const end = posOf(i);
        i++;
        return { kind: 'object', entries, start, end };
      }
      fail('expected `,` or `}`', i);
    }
  };

  const parseArray = (): JNode => {
    const start = posOf(i);
    i++;
    const items: JNode[] = [];
    skipWs();
    if (text[i] === ']') {
      const end = posOf(i);
      i++;
      return { kind: 'array', items, start, end };
    }
    for (;;) {
      skipWs();
      if (text[i] === ']') fail('trailing comma', i);
      items.push(parseValue('a value'));
      skipWs();
      if (i >= n) fail('EOF while parsing a list', n);
      if (text[i] === ',') {
        i++;
        continue;
      }
      if (text[i] === ']') {
        const end = posOf(i);
        i++;
        return { kind: 'array', items, start, end };
      }
      fail('expected `,` or `]`', i);
    }
  };

  const root = parseValue('a value');
  skipWs();
  if (i < n) fail('trailing characters', i);
  return root;
}

/** Converts a positioned tree to a plain JS value. */
export function toPlain(node: JNode): unknown {
  switch (node.kind) {
    case 'object': {
      const o: Record<string, unknown> = {};
      for (const e of node.entries) o[e.key] = toPlain(e.value);
      return o;
    }
    case 'array':
      return node.items.map(toPlain);
    case 'string':
    case 'bool':
      return node.value;
    case 'number':
      return Number(node.raw);
    case 'null':
      return null;
  }
}
