/** One message of a `text/event-stream` (comments and `retry:` lines are not messages). */
export interface ServerSentEvent {
  readonly event: string;
  readonly id: string | undefined;
  readonly data: string;
}

/**
 * The messages of an event stream body, as the WHATWG rules parse them: fields up to a blank line,
 * `data:` lines joined by newlines, lines ending in LF, CR or CRLF. Ends when the body ends.
 */
export async function* readServerSentEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<ServerSentEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let event = '';
  let id: string | undefined;
  let data: string[] = [];
  try {
    for (;;) {
      const { value, done } = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      for (let end = lineEnd(buffer, done); end !== undefined; end = lineEnd(buffer, done)) {
        const line = buffer.slice(0, end.at);
        buffer = buffer.slice(end.at + end.length);
        if (line === '') {
          if (data.length > 0) yield { event: event || 'message', id, data: data.join('\n') };
          event = '';
          data = [];
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon === -1 ? line : line.slice(0, colon);
        const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'data') data.push(value);
        else if (field === 'event') event = value;
        else if (field === 'id' && !value.includes('\0')) id = value;
      }
      if (done) return;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

/** Where the first line of `buffer` ends: a CR at its very end waits for more (it may be a CRLF), unless the body ended. */
function lineEnd(buffer: string, isEnded: boolean): { at: number; length: number } | undefined {
  const at = buffer.search(/[\r\n]/);
  if (at === -1) return undefined;
  if (buffer[at] === '\n') return { at, length: 1 };
  if (at + 1 < buffer.length) return { at, length: buffer[at + 1] === '\n' ? 2 : 1 };
  return isEnded ? { at, length: 1 } : undefined;
}
