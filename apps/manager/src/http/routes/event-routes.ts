import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';
import { Type } from 'typebox';
import { AppError } from '@hearth/errors';
import type { HttpServer } from '@hearth/http-server';
import { ConcurrencyLimiter, type ConcurrencyLimit } from '../../application/concurrency-limiter.js';
import type { UseCaseDependencies } from '../../application/dependencies.js';
import { Permits } from '../../application/events/permits.js';
import {
  defaultEventStreamLimits,
  streamEvents,
  type EventStreamLimits,
  type EventStreamMessage,
  type EventStreamSink,
} from '../../application/events/stream-events.js';
import { eventIdRange, listEvents } from '../../application/use-cases/event-queries.js';
import { eventVisibilityOf, type EventFilter } from '../../domain/event.js';
import { parseHostId, parseVmId } from '../../domain/ids.js';
import { callerOf } from '../caller.js';
import { principalOf } from '../authentication.js';
import type { Principal } from '../../domain/access.js';
import { problemResponses } from '../schemas/common.js';
import { EventPageView, EventStreamHeaders, EventStreamQuery, ListEventsQuery } from '../schemas/event-schemas.js';
import { eventView } from '../views.js';

export interface EventStreamOptions {
  /** A comment line is sent this often so that proxies keep the stream open (15 s). */
  readonly heartbeatMs: number;
  /** How much a stream may hold for a slow client before dropping it. */
  readonly limits: EventStreamLimits;
  /** Streams open at once, per client and overall. */
  readonly concurrency: ConcurrencyLimit;
  /** Streams reading the event log at once (catching up); the others wait their turn. */
  readonly logReadConcurrency: number;
}

export const defaultEventStreamOptions: EventStreamOptions = Object.freeze({
  heartbeatMs: 15_000,
  limits: defaultEventStreamLimits,
  concurrency: Object.freeze({ perClient: 16, overall: 256 }),
  logReadConcurrency: 2,
});

/** A stream ended from this side is destroyed if the client has not read its end by then. */
const endGraceMs = 1_000;

function filterOf(
  query: { vmId?: string | undefined; hostId?: string | undefined; type?: string | undefined },
  principal: Principal,
): EventFilter {
  return {
    visibleTo: eventVisibilityOf(principal),
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

/** The headers of an event stream answer. */
function streamHeaders(requestId: string): Record<string, string> {
  return {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    'x-accel-buffering': 'no',
    'x-request-id': requestId,
  };
}

/** One message in `text/event-stream` framing. */
function sseFrame(message: EventStreamMessage): string {
  switch (message.kind) {
    case 'event':
      return `id: ${message.event.id}\ndata: ${JSON.stringify(eventView(message.event))}\n\n`;
    case 'events_lost':
      return `event: events_lost\ndata: ${JSON.stringify({ afterId: message.afterId, prunedThroughId: message.prunedThroughId })}\n\n`;
    case 'dropped':
      return `event: dropped\ndata: ${JSON.stringify({ reason: message.reason, lastEventId: message.lastEventId })}\n\n`;
  }
}

/**
 * Ends a response. When what it wrote cannot all be handed to the connection within the grace (a
 * client that does not read), the connection is destroyed rather than kept for that client.
 */
function endResponse(raw: ServerResponse): void {
  if (raw.destroyed) return;
  const socket = raw.socket;
  if (!raw.writableEnded) raw.end();
  if (raw.writableFinished) return;
  const timer = setTimeout(() => socket?.destroy(), endGraceMs).unref();
  raw.once('finish', () => clearTimeout(timer));
}

/** An HTTP response as an event stream sink: `write()` answers Node's back-pressure signal. */
function responseSink(raw: ServerResponse): EventStreamSink {
  const closed = new Promise<void>((resolve) => raw.once('close', () => resolve()));
  /** One wait for 'drain' at a time, however often it is asked for. */
  let drain: Promise<void> | undefined;
  return {
    write: (message) => raw.write(sseFrame(message)),
    drained: () => {
      if (!raw.writableNeedDrain || raw.destroyed) return Promise.resolve();
      drain ??= new Promise<void>((resolve) => {
        const done = (): void => {
          raw.off('drain', done);
          raw.off('close', done);
          drain = undefined;
          resolve();
        };
        raw.once('drain', done);
        raw.once('close', done);
      });
      return drain;
    },
    closed,
    get isClosed() {
      return raw.destroyed || raw.writableEnded;
    },
    end: () => endResponse(raw),
  };
}

/** Registers the event routes; answers how many live streams are open, read by the metrics. */
export function registerEventRoutes(
  app: HttpServer,
  deps: Pick<UseCaseDependencies, 'events' | 'eventFeed' | 'timers' | 'log'>,
  options: EventStreamOptions = defaultEventStreamOptions,
): { readonly openStreams: () => number } {
  const streams = new ConcurrencyLimiter({
    ...options.concurrency,
    code: 'EVENT_STREAM_LIMIT_REACHED',
    what: 'event streams',
    retryAfterSeconds: 5,
  });
  const logReads = new Permits(options.logReadConcurrency);
  const openStreams = new Set<ServerResponse>();
  // Streams never end on their own: end them so that closing the server does not wait for them.
  app.addHook('preClose', async () => {
    for (const stream of openStreams) endResponse(stream);
    openStreams.clear();
  });

  app.get(
    '/v1/events',
    {
      config: { auth: { scope: 'events:read' } },
      schema: {
        operationId: 'listEvents',
        summary: 'The event log, oldest first (filter by VM, host, type; page with `cursor`)',
        description:
          'Old events are deleted by retention (by age and count). A `cursor` older than the oldest kept event answers ' +
          '410 EVENT_CURSOR_EXPIRED: list again without a cursor to start from the oldest kept event.',
        tags: ['events'],
        querystring: ListEventsQuery,
        response: { 200: EventPageView, ...problemResponses },
      },
    },
    async (request) => {
      const page = await listEvents(deps, filterOf(request.query, principalOf(request)), request.query);
      return { items: page.items.map(eventView), nextCursor: page.nextCursor };
    },
  );

  app.get(
    '/v1/events/stream',
    {
      config: { auth: { scope: 'events:read' } },
      schema: {
        operationId: 'streamEvents',
        summary: 'Live events as server-sent events',
        description:
          '`text/event-stream`; each message has `id:` (the event id) and `data:` (the event as JSON). Send ' +
          '`Last-Event-ID` to get the events after that one first. Every Manager replica delivers every event ' +
          `(PostgreSQL LISTEN/NOTIFY). A comment line is sent every ${Math.round(options.heartbeatMs / 1000)} s. ` +
          'When events after `Last-Event-ID` were deleted by retention, an `events_lost` message ' +
          '(`{"afterId","prunedThroughId"}`) comes first and the stream goes on from the oldest kept event. A client ' +
          `that leaves its connection full for ${Math.round(options.limits.stallMs / 1000)} s, or lets more than ` +
          `${options.limits.maxQueuedEvents} events pile up, gets a last \`dropped\` message ` +
          '(`{"reason":"too_far_behind","lastEventId"}`) and the stream ends: reconnect with that `Last-Event-ID`. ' +
          `Streams are capped per client (${options.concurrency.perClient}) and overall (${options.concurrency.overall}): ` +
          'over a cap, 429 EVENT_STREAM_LIMIT_REACHED with `Retry-After`.',
        tags: ['events'],
        headers: EventStreamHeaders,
        querystring: EventStreamQuery,
        response: {
          200: {
            description: 'Server-sent events: `id:` and `data:` (an event as JSON) per message',
            content: { 'text/event-stream': { schema: Type.String() } },
          },
          ...problemResponses,
        },
      },
    },
    async (request, reply) => {
      const filter = filterOf(request.query, principalOf(request));
      const afterId = lastEventIdOf(request.headers['last-event-id']);
      // HEAD gets the headers of a stream and no stream: one would never end, nor send its headers.
      if (request.method === 'HEAD') return reply.status(200).headers(streamHeaders(request.id)).send('');
      const release = streams.acquire(callerOf(request));
      openStream(reply, release, filter, afterId);
    },
  );

  return { openStreams: () => openStreams.size };

  function openStream(reply: FastifyReply, release: () => void, filter: EventFilter, afterId: number | undefined): void {
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, { ...streamHeaders(reply.request.id), connection: 'keep-alive' });
    raw.write('retry: 2000\n\n');
    openStreams.add(raw);
    const heartbeat = setInterval(() => {
      // A full connection gets nothing more; the stream drops the client if it stays full.
      if (!raw.writableEnded && !raw.writableNeedDrain) raw.write(': keep-alive\n\n');
    }, options.heartbeatMs);
    heartbeat.unref();
    raw.once('close', () => {
      clearInterval(heartbeat);
      openStreams.delete(raw);
      release();
    });
    streamEvents(deps, responseSink(raw), { filter, afterId }, options.limits, logReads).then(
      (end) => {
        if (end === 'dropped') deps.log.info({ requestId: reply.request.id }, 'event stream client dropped (too far behind)');
      },
      (error: unknown) => {
        deps.log.error({ err: error, requestId: reply.request.id }, 'event stream failed');
        raw.destroy();
      },
    );
  }
}
