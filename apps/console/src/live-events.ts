import { Hearth, type HearthEvent, type ListEventsFilter } from '@hearth/sdk';
import type { Session } from './session.js';

/**
 * Follows the Manager's event stream until `signal` aborts, calling `onConnected` once the stream
 * is open (so that a page loads what it shows only after that, and misses no event in between) and
 * `onEvent` for each event. The SDK reconnects with `Last-Event-ID` after a dropped connection.
 */
export async function followEvents(
  session: Session,
  filter: ListEventsFilter,
  handlers: { readonly onConnected: () => void; readonly onEvent: (event: HearthEvent) => void },
  signal: AbortSignal,
): Promise<void> {
  let isConnected = false;
  const streaming = new Hearth({
    baseUrl: session.baseUrl,
    token: session.token,
    fetch: async (request) => {
      const response = await fetch(request);
      if (response.ok && !isConnected) {
        isConnected = true;
        handlers.onConnected();
      }
      return response;
    },
  });
  for await (const event of streaming.events({ ...filter, signal })) handlers.onEvent(event);
}
