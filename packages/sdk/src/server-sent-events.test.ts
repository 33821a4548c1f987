import { describe, expect, it } from 'vitest';
import { readServerSentEvents, type ServerSentEvent } from './server-sent-events.js';

/** A body that arrives in the given chunks. */
function body(...chunks: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
      controller.close();
    },
  });
}

async function read(stream: ReadableStream<Uint8Array>): Promise<ServerSentEvent[]> {
  const messages: ServerSentEvent[] = [];
  for await (const message of readServerSentEvents(stream)) messages.push(message);
  return messages;
}

describe('readServerSentEvents', () => {
  it('reads messages with their id and event name, skipping comments and retry lines', async () => {
    expect(await read(body('retry: 2000\n\n: keep-alive\n\nid: 7\ndata: {"id":7}\n\nevent: dropped\ndata: {}\n\n'))).toEqual([
      { event: 'message', id: '7', data: '{"id":7}' },
      { event: 'dropped', id: '7', data: '{}' },
    ]);
  });

  it('joins data lines and accepts CRLF and CR line ends, split anywhere across chunks', async () => {
    expect(await read(body('id: 1\r', '\ndata: a\r\nda', 'ta: b\r\r', 'data:c\n\n'))).toEqual([
      { event: 'message', id: '1', data: 'a\nb' },
      { event: 'message', id: '1', data: 'c' },
    ]);
  });

  it('drops a message the body ends in the middle of', async () => {
    expect(await read(body('id: 1\ndata: whole\n\nid: 2\ndata: half'))).toEqual([{ event: 'message', id: '1', data: 'whole' }]);
  });

  it('decodes a character split between chunks', async () => {
    const bytes = new TextEncoder().encode('data: é\n\n');
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes.slice(0, 7));
        controller.enqueue(bytes.slice(7));
        controller.close();
      },
    });
    expect(await read(stream)).toEqual([{ event: 'message', id: undefined, data: 'é' }]);
  });
});
