import { createApiClient, type ApiClient } from './api-client.js';
import type { ConsoleWebSocketConstructor } from './console.js';
import { streamEvents, type EventStreamOptions } from './event-stream.js';
import { Hosts } from './hosts.js';
import { Images } from './images.js';
import { paginate } from './paginate.js';
import { Projects } from './projects.js';
import { Snapshots } from './snapshots.js';
import { Templates } from './templates.js';
import { Tokens } from './tokens.js';
import { createTransport, type TransportOptions } from './transport.js';
import type { AuditEntry, HearthEvent, ListAuditFilter, ListEventsFilter } from './types.js';
import { bodyOf } from './api-client.js';
import { Vms } from './vms.js';

export interface HearthOptions extends TransportOptions {
  /** The Manager, e.g. `http://127.0.0.1:8080`. */
  readonly baseUrl: string;
  /** The WebSocket class of the serial console (default: the global one, else the `ws` package on Node 20). */
  readonly webSocket?: ConsoleWebSocketConstructor | undefined;
}

/**
 * A client of one Manager: `hearth.vms`, `hearth.images`, `hearth.templates`, `hearth.snapshots`, `hearth.hosts`,
 * `hearth.tokens`, `hearth.projects` and `hearth.events()`. Every call resolves with the answer's body or rejects with a `HearthError`
 * keyed by the problem's `code`. `hearth.api` is the typed openapi-fetch client of every route.
 */
export class Hearth {
  readonly api: ApiClient;
  readonly vms: Vms;
  readonly images: Images;
  readonly templates: Templates;
  readonly snapshots: Snapshots;
  readonly hosts: Hosts;
  readonly tokens: Tokens;
  readonly projects: Projects;
  private readonly baseUrl: string;
  private readonly transport: (request: Request) => Promise<Response>;
  private readonly streamTransport: (request: Request) => Promise<Response>;

  constructor(options: HearthOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.transport = createTransport(options);
    this.streamTransport = createTransport({ ...options, retries: 0 });
    this.api = createApiClient(this.baseUrl, this.transport);
    this.vms = new Vms(this.api, { baseUrl: this.baseUrl, token: options.token, webSocket: options.webSocket });
    this.images = new Images(this.api);
    this.templates = new Templates(this.api);
    this.snapshots = new Snapshots(this.api);
    this.hosts = new Hosts(this.api);
    this.tokens = new Tokens(this.api);
    this.projects = new Projects(this.api);
  }

  /**
   * Live events (`for await (const event of hearth.events({ since }))`): those after `since` first,
   * then each as it happens, reconnecting with `Last-Event-ID` whenever the connection drops.
   * Runs until `signal` aborts or the loop breaks.
   */
  events(options: EventStreamOptions = {}): AsyncGenerator<HearthEvent> {
    const { vmId, hostId, type } = options;
    const query = new URLSearchParams(
      Object.entries({ vmId, hostId, type }).filter((entry): entry is [string, string] => entry[1] !== undefined),
    ).toString();
    const url = `${this.baseUrl}/v1/events/stream${query === '' ? '' : `?${query}`}`;
    return streamEvents(
      (lastEventId, signal) =>
        this.streamTransport(
          new Request(url, {
            headers: {
              accept: 'text/event-stream',
              ...(lastEventId === undefined ? {} : { 'last-event-id': String(lastEventId) }),
            },
            signal,
          }),
        ),
      options,
    );
  }

  /** The event log, oldest first, page after page (events deleted by retention are gone). */
  eventLog(filter: ListEventsFilter & { readonly pageSize?: number } = {}): AsyncGenerator<HearthEvent> {
    const { pageSize, ...query } = filter;
    return paginate((cursor: number | undefined) =>
      bodyOf(this.api.GET('/v1/events', { params: { query: { ...query, limit: pageSize, cursor } } })),
    );
  }

  /** The audit log, newest first, page after page: who did what, refused or not (a token with `audit:read`). */
  auditLog(filter: ListAuditFilter & { readonly pageSize?: number } = {}): AsyncGenerator<AuditEntry> {
    const { pageSize, ...query } = filter;
    return paginate((cursor: number | undefined) =>
      bodyOf(this.api.GET('/v1/audit', { params: { query: { ...query, limit: pageSize, cursor } } })),
    );
  }
}
