import pg from 'pg';
import type { Log } from '../../application/ports/log.js';
import { defaultConnectTimeoutMs, pgliteOf, type Database, type DatabaseTarget } from './database.js';

/** The channel the `events` insert trigger notifies, with the new event's id as payload. */
export const eventChannel = 'hearth_events';

export interface EventNotificationHandlers {
  /** An event with this id was committed (by any Manager on the database). */
  onEventId(id: number): void;
  /** The listening connection was lost and is back: notifications in between were missed. */
  onReconnected(): void;
}

export interface EventNotifications {
  close(): Promise<void>;
}

const reconnectDelayMs = { first: 250, maximum: 5_000 } as const;

/**
 * Listens on `hearth_events` over one dedicated connection per process: a `pg.Client` outside the
 * pool for PostgreSQL (reconnecting with backoff when it drops), PGlite's `listen()` for PGlite.
 */
export async function listenForEvents(
  target: DatabaseTarget,
  db: Database,
  handlers: EventNotificationHandlers,
  log: Log,
): Promise<EventNotifications> {
  if (target.kind === 'pglite') {
    const pglite = pgliteOf(db);
    if (pglite === undefined) throw new Error('listenForEvents: the database was not opened on PGlite');
    const unlisten = await pglite.listen(eventChannel, (payload) => dispatch(payload, handlers));
    return {
      close: async () => {
        if (!pglite.closed) await unlisten();
      },
    };
  }
  return PostgresListener.start(target.url, handlers, log);
}

function dispatch(payload: string, handlers: EventNotificationHandlers): void {
  const id = Number(payload);
  if (Number.isSafeInteger(id) && id > 0) handlers.onEventId(id);
}

class PostgresListener implements EventNotifications {
  private client: pg.Client | undefined;
  private isClosed = false;
  private delayMs: number = reconnectDelayMs.first;
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly url: string,
    private readonly handlers: EventNotificationHandlers,
    private readonly log: Log,
  ) {}

  static async start(url: string, handlers: EventNotificationHandlers, log: Log): Promise<PostgresListener> {
    const listener = new PostgresListener(url, handlers, log);
    if (!(await listener.connect())) listener.scheduleReconnect();
    return listener;
  }

  private async connect(): Promise<boolean> {
    const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: defaultConnectTimeoutMs });
    client.on('notification', (message) => {
      if (message.channel === eventChannel && message.payload !== undefined) dispatch(message.payload, this.handlers);
    });
    client.on('error', (error) => this.lost(client, error));
    client.on('end', () => this.lost(client, undefined));
    try {
      await client.connect();
      await client.query(`LISTEN ${eventChannel}`);
    } catch (error) {
      client.removeAllListeners('end');
      client.end().catch(() => undefined);
      this.log.warn({ err: error }, 'event listener cannot connect');
      return false;
    }
    if (this.isClosed) {
      await client.end().catch(() => undefined);
      return true;
    }
    this.client = client;
    this.delayMs = reconnectDelayMs.first;
    return true;
  }

  private lost(client: pg.Client, error: unknown): void {
    if (this.client !== client || this.isClosed) return;
    this.client = undefined;
    client.removeAllListeners('end');
    client.end().catch(() => undefined);
    this.log.warn({ err: error }, 'event listener lost its connection');
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.isClosed || this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.connect().then(
        (isConnected) => {
          if (!isConnected) {
            this.delayMs = Math.min(this.delayMs * 2, reconnectDelayMs.maximum);
            this.scheduleReconnect();
          } else if (!this.isClosed) {
            this.log.info({}, 'event listener reconnected');
            this.handlers.onReconnected();
          }
        },
        (error: unknown) => this.log.error({ err: error }, 'event listener could not reconnect'),
      );
    }, this.delayMs);
    this.timer.unref();
  }

  async close(): Promise<void> {
    this.isClosed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const client = this.client;
    this.client = undefined;
    if (client !== undefined) {
      client.removeAllListeners('end');
      client.on('error', () => undefined);
      await client.end().catch(() => undefined);
    }
  }
}
