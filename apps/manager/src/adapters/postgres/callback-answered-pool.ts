import type { PostgresCursor, PostgresPool, PostgresPoolClient, PostgresQueryResult } from 'kysely';
import type pg from 'pg';

/**
 * `pool` as Kysely uses it, each statement sent through the driver's callback form of
 * `Client.query` instead of its promise form.
 *
 * Kysely calls `client.query(sql, parameters)` without a callback, and `pg` then keeps the rows it
 * answers alive past every scavenge until the next mark-compact: each statement's rows are promoted
 * to the old generation, which the Manager's conservative heap limit (`--optimize-for-size`) turns
 * into a mark-compact every 50–60 pages of `GET /v1/vms?limit=100`. Answered by callback, the rows
 * die young with the request that read them (ADR 0079).
 */
export function callbackAnsweredPool(pool: pg.Pool): PostgresPool {
  return {
    async connect(): Promise<PostgresPoolClient> {
      return callbackAnsweredClient(await pool.connect());
    },
    end: () => pool.end(),
  };
}

function callbackAnsweredClient(client: pg.PoolClient): PostgresPoolClient {
  function query<R>(sql: string, parameters: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>>;
  function query<R>(cursor: PostgresCursor<R>): PostgresCursor<R>;
  function query<R>(
    statement: string | PostgresCursor<R>,
    parameters?: ReadonlyArray<unknown>,
  ): Promise<PostgresQueryResult<R>> | PostgresCursor<R> {
    // A cursor (Kysely's streamQuery) is a submittable the driver drives itself: handed over as it is.
    if (typeof statement !== 'string') return client.query(statement as never) as PostgresCursor<R>;
    return new Promise((resolve, reject) => {
      client.query(statement, parameters as unknown[], (error: Error | undefined, result: pg.QueryResult) => {
        if (error === undefined || error === null) resolve(result as unknown as PostgresQueryResult<R>);
        else reject(error);
      });
    });
  }
  return { query, release: (destroy?: boolean) => client.release(destroy) };
}
