import type { PostgresPool, PostgresPoolClient, PostgresQueryResult } from 'kysely';
import type pg from 'pg';
import { answeredByCallback } from './answered-by-callback.js';
import type { ConnectionQueue } from './connection-queue.js';

/** How many statements one connection keeps prepared, at most; past it, new texts run unnamed. */
export const defaultPreparedStatementsPerConnection = 200;

/** SQLSTATE 0A000 with this message: a prepared statement's result columns changed under it (a migration). */
const staleResultTypeMessage = 'cached plan must not change result type';

/** What one pooled connection has prepared: a name per statement text, unique on that connection. */
interface PreparedOnConnection {
  readonly names: Map<string, string>;
  /** Bumped when the connection's statements are given up, so their names are never reused. */
  generation: number;
}

/**
 * The pool Kysely's PostgreSQL dialect draws its connections from, running every statement that
 * has parameters as a named prepared statement of its connection: PostgreSQL parses and analyses
 * each statement text once per connection instead of at each run, and the driver sends no Parse
 * message after the first.
 *
 * - Only statements with parameters are named. Those without (`begin`, `commit`, a migration's DDL,
 *   several statements in one string) keep the simple protocol, as before.
 * - A connection keeps at most `perConnection` statements; a text beyond them runs unnamed, so
 *   texts that differ by the length of a list cannot fill PostgreSQL's memory.
 * - A migration that changes a table's columns leaves a statement that reads `*` of it answering
 *   `cached plan must not change result type`. The connection then gives up what it prepared; the
 *   statement is run again, prepared anew, when it was not inside a transaction (nothing else had
 *   run with it), else the error is the transaction's, as any failed statement is.
 * - With a `queue`, a connection is asked of `pool` only at the caller's turn (`ConnectionQueue`),
 *   and the turn is given back with the connection.
 * - Every statement is answered through the driver's callback form (`answeredByCallback`), so that
 *   the rows it reads die young (ADR 0079).
 * - A transaction's `begin` is sent with its first statement when that one has no parameters, in
 *   one string (`begin; …`): one round trip instead of two, PostgreSQL running the statement inside
 *   the transaction as before. When the first statement has parameters, `begin` goes alone just
 *   before it; a transaction that ran nothing sends neither its `begin` nor its end.
 */
export function preparedStatementsPool(
  pool: pg.Pool,
  options: { readonly perConnection?: number; readonly queue?: ConnectionQueue } = {},
): PostgresPool {
  const perConnection = options.perConnection ?? defaultPreparedStatementsPerConnection;
  const queue = options.queue;
  const preparedOf = new WeakMap<pg.PoolClient, PreparedOnConnection>();
  const wrapperOf = new WeakMap<pg.PoolClient, PostgresPoolClient>();
  /** Connections whose `begin` waits to be sent with their next statement. */
  const beginsDeferred = new WeakSet<pg.PoolClient>();

  async function run<R>(client: pg.PoolClient, text: string, values: readonly unknown[]): Promise<PostgresQueryResult<R>> {
    if (values.length === 0 && text === begin) {
      beginsDeferred.add(client);
      return answerOf<R>('BEGIN');
    }
    if (beginsDeferred.delete(client)) {
      // Nothing ran since `begin`: there is nothing to end either.
      if (text === commit || text === rollback) return answerOf<R>(text === commit ? 'COMMIT' : 'ROLLBACK');
      if (values.length === 0) return lastOf<R>(await answeredByCallback(client, `${begin};\n${text}`));
      await answeredByCallback(client, begin);
    }
    if (values.length === 0) return (await answeredByCallback(client, text)) as unknown as PostgresQueryResult<R>;
    let prepared = preparedOf.get(client);
    if (prepared === undefined) {
      prepared = { names: new Map(), generation: 0 };
      preparedOf.set(client, prepared);
    }
    const name = nameFor(prepared, text, perConnection);
    if (name === undefined)
      return (await answeredByCallback(client, { text, values: [...values] })) as unknown as PostgresQueryResult<R>;
    try {
      return (await answeredByCallback(client, { name, text, values: [...values] })) as unknown as PostgresQueryResult<R>;
    } catch (error) {
      if (!isStaleResultType(error)) throw error;
      prepared.names.clear();
      prepared.generation += 1;
      if (client.getTransactionStatus() !== 'I') throw error;
      return run(client, text, values);
    }
  }

  function wrap(client: pg.PoolClient): PostgresPoolClient {
    // Kysely keeps one connection object per client it is handed: always the same wrapper.
    let wrapper = wrapperOf.get(client);
    if (wrapper === undefined) {
      wrapper = {
        query: ((textOrCursor: unknown, values?: readonly unknown[]) =>
          typeof textOrCursor === 'string'
            ? run(client, textOrCursor, values ?? [])
            : client.query(textOrCursor as pg.QueryConfig)) as PostgresPoolClient['query'],
        release: (destroy?: boolean) => {
          beginsDeferred.delete(client);
          client.release(destroy);
          queue?.release();
        },
      };
      wrapperOf.set(client, wrapper);
    }
    return wrapper;
  }

  return {
    connect: async () => {
      if (queue === undefined) return wrap(await pool.connect());
      await queue.acquire();
      try {
        return wrap(await pool.connect());
      } catch (error) {
        queue.release();
        throw error;
      }
    },
    end: () => pool.end(),
  };
}

/** The texts Kysely's PostgreSQL driver starts and ends a transaction with. */
const begin = 'begin';
const commit = 'commit';
const rollback = 'rollback';

/** What the driver answers a statement that returns no rows, with its command tag. */
function answerOf<R>(command: string): PostgresQueryResult<R> {
  return { command, rowCount: null, rows: [] } as unknown as PostgresQueryResult<R>;
}

/** The answer to the last statement of a string of several (the driver answers one per statement). */
function lastOf<R>(answer: pg.QueryResult | readonly pg.QueryResult[]): PostgresQueryResult<R> {
  const last = Array.isArray(answer) ? answer.at(-1) : answer;
  return last as unknown as PostgresQueryResult<R>;
}

function nameFor(prepared: PreparedOnConnection, text: string, perConnection: number): string | undefined {
  const known = prepared.names.get(text);
  if (known !== undefined || prepared.names.size >= perConnection) return known;
  const name = `hearth_${prepared.generation}_${prepared.names.size}`;
  prepared.names.set(text, name);
  return name;
}

function isStaleResultType(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  return code === '0A000' && typeof message === 'string' && message.includes(staleResultTypeMessage);
}
