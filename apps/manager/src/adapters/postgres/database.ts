import type { PGlite } from '@electric-sql/pglite';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import type { ManagerDatabase } from './schema.js';
import { translated } from './database-errors.js';
import { restrictToOwner } from './owner-only-directory.js';
import { ConnectionQueue } from './connection-queue.js';
import { preparedStatementsPool } from './prepared-statements-pool.js';

export type Database = Kysely<ManagerDatabase>;

/** How long a query waits for a connection of a busy pool, by default, before DATABASE_BUSY. */
export const defaultPoolWaitMs = 30_000;

/** How long the driver waits for a new connection to a database that does not answer, by default. */
export const defaultConnectTimeoutMs = 5_000;

/**
 * How long a connection may sit idle in the pool before it is closed. The driver's default (10 s)
 * closed the pool's connections between two bursts of creates a few seconds apart, and each burst
 * paid for new ones: a backend forked, its catalog caches and PL/pgSQL loaded, each statement
 * prepared again (ADR 0078).
 */
const idleConnectionMs = 300_000;

export type DatabaseTarget =
  | {
      readonly kind: 'postgres';
      readonly url: string;
      readonly poolSize?: number;
      /** How long a query waits for a busy pool's connection before DATABASE_BUSY (default 30 s). */
      readonly poolWaitMs?: number;
      /** How long a new connection may take before DATABASE_UNAVAILABLE (default 5 s). */
      readonly connectTimeoutMs?: number;
    }
  /** Embedded PGlite stored in `dataDir`; in memory when `dataDir` is undefined. */
  | { readonly kind: 'pglite'; readonly dataDir?: string | undefined };

const pgliteOfDatabase = new WeakMap<Database, PGlite>();
const queueOfDatabase = new WeakMap<Database, ConnectionQueue>();

/** The embedded PGlite behind `db` (for its `listen()` API); undefined for PostgreSQL. */
export function pgliteOf(db: Database): PGlite | undefined {
  return pgliteOfDatabase.get(db);
}

/** The turns at `db`'s connections (for its metrics); undefined for PGlite, which has one. */
export function connectionQueueOf(db: Database): ConnectionQueue | undefined {
  return queueOfDatabase.get(db);
}

/** Opens the database: a `pg` pool for PostgreSQL, or embedded PGlite. Close it with `db.destroy()`. */
export async function openDatabase(target: DatabaseTarget): Promise<Database> {
  if (target.kind === 'postgres') {
    const poolSize = target.poolSize ?? 10;
    // The driver's timeout bounds a connect (a database that does not answer); the wait for a busy
    // pool's connection is the queue's, longer: a burst is queued, not refused as an outage.
    const pool = new pg.Pool({
      connectionString: target.url,
      max: poolSize,
      connectionTimeoutMillis: target.connectTimeoutMs ?? defaultConnectTimeoutMs,
      idleTimeoutMillis: idleConnectionMs,
    });
    const queue = new ConnectionQueue(poolSize, target.poolWaitMs ?? defaultPoolWaitMs);
    // An idle client losing its connection must not crash the process; the next query reports it.
    pool.on('error', () => undefined);
    // Nor may a checked-out one between two queries (a transaction awaiting its next statement when
    // PostgreSQL shuts down): pg emits 'error' on the client then, which would be unhandled. Its
    // next query fails and is translated to DATABASE_UNAVAILABLE.
    pool.on('connect', (client) => client.on('error', () => undefined));
    // Each statement with parameters is prepared once per connection (ADR 0078), and every one is
    // answered through the driver's callback form, so that the rows it reads die young (ADR 0079).
    const db = new Kysely<ManagerDatabase>({ dialect: new PostgresDialect({ pool: preparedStatementsPool(pool, { queue }) }) });
    queueOfDatabase.set(db, queue);
    return db;
  }
  if (target.dataDir !== undefined) await restrictToOwner(target.dataDir);
  // Loaded only when chosen: a Manager on PostgreSQL does not carry PGlite's code in its heap.
  const [{ PGlite }, { PGliteDialect }] = await Promise.all([import('@electric-sql/pglite'), import('kysely-pglite-dialect')]);
  const pglite = target.dataDir === undefined ? new PGlite() : new PGlite(target.dataDir);
  await pglite.waitReady;
  // PGlite creates its files with the process umask (often 0644): the first start tightens them too.
  if (target.dataDir !== undefined) await restrictToOwner(target.dataDir);
  const db = new Kysely<ManagerDatabase>({ dialect: new PGliteDialect(pglite) });
  pgliteOfDatabase.set(db, pglite);
  return db;
}

/** Readiness: a round trip to the database. Throws DATABASE_UNAVAILABLE. */
export async function pingDatabase(db: Database): Promise<void> {
  await translated(() => sql`select 1`.execute(db));
}
