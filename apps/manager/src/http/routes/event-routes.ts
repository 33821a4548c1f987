import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';
import { AppError } from '@hearth/errors';
import type { HttpServer } from '@hearth/http-server';
import type { UseCaseDependencies } from '../../application/dependencies.js';
import { eventIdRange, listEvents } from '../../application/use-cases/event-queries.js';
import { matchesEventFilter, type EventFilter, type RecordedEvent } from '../../domain/event.js';
import { parseHostId, parseVmId } from '../../domain/ids.js';
import { problemResponses } from '../schemas/common.js';
import { EventPageView, EventStreamQuery, ListEventsQuery } from '../schemas/event-schemas.js';
import { eventView } from '../views.js';

export interface EventStreamOptions {
  /** A comment line is sent this often so that proxies keep the stream open (15 s). */
  readonly heartbeatMs: number;
}

export const defaultEventStreamOptions: EventStreamOptions = Object.freeze({ heartbeatMs: 15_000 });

const backfillPageSize = 500;
/** How many delivered ids a stream remembers to drop an event it already sent. */
const rememberedIds = 5_000;

function filterOf(query: { vmId?: string | undefined; hostId?: string | undefined; type?: string | undefined }): EventFilter {
  return {
    vmId: query.vmId === undefined ? undefined : parseVmId(query.vmId),
    hostId: query.hostId === undefined ? undefined : parseHostId(query.hostId),
    type: query.type,
  };
}

/** `Last-Event-ID`: the id of the last event the client saw (an event id, else 400 naming the header). */
function lastEventIdOf(header: string | string[] | undefined): number | undefined {
  const value = (Array.isArray(header) ? header[0] : header)?.trim();
  if (value === undefined || value === '') return undefined;
  const id = /^\d{1,16}$/.test(value) ? Number(value) : Number.NaN;
  if (!(id >= eventIdRange.minimum && id <= eventIdRange.maximum)) {
    throw new AppError('VALIDATION_FAILED', 'Invalid headers: last-event-id', {
      errors: [{ field: 'headers/last-event-id', message: `must be an event id from 0 to ${eventIdRange.maximum}` }],
    });
  }
  return id;
}

export function registerEventRoutes(
  app: HttpServer,
  deps: Pick<UseCaseDependencies, 'events' | 'eventFeed' | 'log'>,
  options: EventStreamOptions = defaultEventStreamOptions,
): void {
  const openStreams = new Set<ServerResponse>();
  // Streams never end on their own: end them so that closing the server does not wait for them.
  app.addHook('preClose', async () => {
    for (const stream of openStreams) stream.end();
    openStreams.clear();
  });

  app.get(
    '/v1/events',
    {
      schema: {
        summary: 'The event log, oldest first (filter by VM, host, type; page with `cursor`)',
        tags: ['events'],
        querystring: ListEventsQuery,
        response: { 200: EventPageView, ...problemResponses },
      },
    },
    async (request) => {
      const page = await listEvents(deps, filterOf(request.query), request.query);
      return { items: page.items.map(eventView), nextCursor: page.nextCursor };
    },
  );

  app.get(
    '/v1/events/stream',
    {
      schema: {
        summary: 'Live events as server-sent events',
        description:
          '`text/event-stream`; each message has `id:` (the event id) and `data:` (the event as JSON). Send ' +
          '`Last-Event-ID` to get the events after that one first. Every Manager replica delivers every event ' +
          `(PostgreSQL LISTEN/NOTIFY). A comment line is sent every ${Math.round(options.heartbeatMs / 1000)} s.`,
        tags: ['events'],
        querystring: EventStreamQuery,
      },
    },
    async (request, reply) => {
      const filter = filterOf(request.query);
      const afterId = lastEventIdOf(request.headers['last-event-id']);
      streamEvents(reply, filter, afterId);
    },
  );

  function streamEvents(reply: FastifyReply, filter: EventFilter, afterId: number | undefined): void {
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      'x-request-id': reply.request.id,
    });
    raw.write('retry: 2000\n\n');
    openStreams.add(raw);

    const sent = new Set<number>();
    const send = (event: RecordedEvent): void => {
      if (sent.has(event.id) || !matchesEventFilter(event, filter) || raw.writableEnded) return;
      sent.add(event.id);
      if (sent.size > rememberedIds) {
        const oldest = sent.values().next().value;
        if (oldest !== undefined) sent.delete(oldest);
      }
      raw.write(`id: ${event.id}\ndata: ${JSON.stringify(eventView(event))}\n\n`);
    };

    // Live events that arrive while the backlog is read wait until it is written.
    let buffered: RecordedEvent[] | undefined = afterId === undefined ? undefined : [];
    const unsubscribe = deps.eventFeed.subscribe((event) => {
      if (buffered !== undefined) buffered.push(event);
      else send(event);
    });
    const heartbeat = setInterval(() => {
      if (!raw.writableEnded) raw.write(': keep-alive\n\n');
    }, options.heartbeatMs);
    heartbeat.unref();

    const close = (): void => {
      clearInterval(heartbeat);
      unsubscribe();
      openStreams.delete(raw);
    };
    raw.once('close', close);

    if (afterId !== undefined) {
      void (async () => {
        try {
          let cursor: number | undefined = afterId;
          while (cursor !== undefined && !raw.writableEnded) {
            const page = await listEvents(deps, filter, { cursor, limit: backfillPageSize });
            for (const event of page.items) send(event);
            cursor = page.nextCursor ?? undefined;
          }
        } catch (error) {
          deps.log.warn({ err: error }, 'event stream backlog could not be read');
          raw.end();
        } finally {
          const pending = buffered ?? [];
          buffered = undefined;
          for (const event of pending) send(event);
        }
      })();
    }
  }
}
