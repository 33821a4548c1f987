/** One server-sent message: its fields, or a comment line. */
export interface SseMessage {
  readonly id?: string;
  readonly data?: string;
  readonly comment?: string;
}

export interface SseClient {
  readonly status: number;
  readonly headers: Headers;
  /** Resolves with the next message (already received or coming) that matches, or rejects after `timeoutMs`. */
  next(matches?: (message: SseMessage) => boolean, timeoutMs?: number): Promise<SseMessage>;
  close(): void;
}

/** A minimal `text/event-stream` reader over fetch, for tests. */
export async function openSse(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
  const abort = new AbortController();
  const response = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: abort.signal });
  const received: SseMessage[] = [];
  const waiters = new Set<() => void>();
  let isEnded = false;
  const readAll = async (): Promise<void> => {
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        received.push(parseBlock(block));
      }
      for (const wake of [...waiters]) wake();
    }
  };
  readAll()
    // Closed by us or by the server (or no body at all): `next()` reports the end.
    .catch(() => undefined)
    .finally(() => {
      isEnded = true;
      for (const wake of [...waiters]) wake();
    });
  return {
    status: response.status,
    headers: response.headers,
    async next(matches = () => true, timeoutMs = 5_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const index = received.findIndex(matches);
        if (index >= 0) return received.splice(index, 1)[0]!;
        if (isEnded) throw new Error('the event stream ended');
        const left = deadline - Date.now();
        if (left <= 0) throw new Error('no matching server-sent message in time');
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, left);
          function done(): void {
            clearTimeout(timer);
            waiters.delete(done);
            resolve();
          }
          waiters.add(done);
        });
      }
    },
    close() {
      abort.abort();
    },
  };
}

function parseBlock(block: string): SseMessage {
  const message: { id?: string; data?: string; comment?: string } = {};
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) message.comment = line.slice(1).trim();
    else if (line.startsWith('id:')) message.id = line.slice(3).trim();
    else if (line.startsWith('data:'))
      message.data = (message.data === undefined ? '' : `${message.data}\n`) + line.slice(5).trim();
  }
  return message;
}
