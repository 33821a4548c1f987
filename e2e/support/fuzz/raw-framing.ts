/** Ways to break HTTP/1.1 framing; `isInvalid` when a server must refuse the bytes. */
export const framings = {
  'content-length': false,
  'lf-only': false,
  'no-colon': true,
  'space-before-colon': true,
  'obs-fold': true,
  'cl-and-te': true,
  'conflicting-cl': true,
  'non-numeric-cl': true,
  'negative-cl': true,
  'bad-chunk-size': true,
  chunked: false,
  'nul-in-target': true,
  'raw-utf8-target': false,
  'http-1.0': false,
  'unknown-version': true,
  'unknown-method': true,
  'absolute-form': false,
  'control-in-header': true,
} as const satisfies Record<string, boolean>;

export type Framing = keyof typeof framings;

/** The bytes of one request with `framing` applied; the connection closes after the answer. */
export function frame(
  framing: Framing,
  method: string,
  target: string,
  headers: ReadonlyArray<readonly [string, string]>,
  body: Buffer | undefined,
): Buffer {
  const content = body ?? Buffer.alloc(0);
  let requestLine = `${method} ${target} HTTP/1.1`;
  let lines = [`Host: 127.0.0.1`, 'Connection: close', ...headers.map(([name, value]) => `${name}: ${value}`)];
  let payload: Buffer = content;
  let eol = '\r\n';
  const length = `Content-Length: ${content.length}`;
  switch (framing) {
    case 'content-length':
      lines.push(length);
      break;
    case 'lf-only':
      eol = '\n';
      lines.push(length);
      break;
    case 'no-colon':
      lines.push('X-Broken header', length);
      break;
    case 'space-before-colon':
      lines.push('X-Spaced : yes', length);
      break;
    case 'obs-fold':
      lines.push('X-Folded: one', ' two', length);
      break;
    case 'cl-and-te':
      lines.push(length, 'Transfer-Encoding: chunked');
      break;
    case 'conflicting-cl':
      lines.push(length, `Content-Length: ${content.length + 1}`);
      break;
    case 'non-numeric-cl':
      lines.push('Content-Length: 12abc');
      break;
    case 'negative-cl':
      lines.push('Content-Length: -1');
      break;
    case 'bad-chunk-size':
      lines.push('Transfer-Encoding: chunked');
      payload = Buffer.concat([Buffer.from('zz\r\n'), content, Buffer.from('\r\n0\r\n\r\n')]);
      break;
    case 'chunked':
      lines.push('Transfer-Encoding: chunked');
      payload = Buffer.concat([Buffer.from(`${content.length.toString(16)};ext=1\r\n`), content, Buffer.from('\r\n0\r\n\r\n')]);
      if (content.length === 0) payload = Buffer.from('0\r\n\r\n');
      break;
    case 'nul-in-target':
      requestLine = `${method} ${target}\u0000x HTTP/1.1`;
      lines.push(length);
      break;
    case 'raw-utf8-target':
      requestLine = `${method} ${target}${Buffer.from('/ünï', 'utf8').toString('latin1')} HTTP/1.1`;
      lines.push(length);
      break;
    case 'http-1.0':
      requestLine = `${method} ${target} HTTP/1.0`;
      lines.push(length);
      break;
    case 'unknown-version':
      requestLine = `${method} ${target} HTTP/9.9`;
      lines.push(length);
      break;
    case 'unknown-method':
      requestLine = `FUZZ ${target} HTTP/1.1`;
      lines.push(length);
      break;
    case 'absolute-form':
      requestLine = `${method} http://127.0.0.1${target} HTTP/1.1`;
      lines.push(length);
      break;
    case 'control-in-header':
      lines.push('X-Control: a\u0001b', length);
      break;
  }
  if (framing === 'lf-only') lines = lines.map((line) => line.replace(/\r/g, ''));
  const head = Buffer.from(`${requestLine}${eol}${lines.join(eol)}${eol}${eol}`, 'latin1');
  return Buffer.concat([head, payload]);
}
