import type pg from 'pg';

/**
 * `client.query(statement)` through the driver's callback form, answered by a promise of its own.
 *
 * In its promise form (`client.query(sql, parameters)` without a callback, which Kysely uses) `pg`
 * keeps the rows it answers alive past every scavenge until the next mark-compact: each
 * statement's rows are promoted to the old generation, which the Manager's conservative heap limit
 * (then `--optimize-for-size`) turned into a mark-compact every 50–60 pages of `GET /v1/vms?limit=100`.
 * Answered by callback, the rows die young with the request that read them (ADR 0079). The promise
 * is made here, outside `Client.query`: one made inside it keeps the rows as its own form does.
 */
export function answeredByCallback(client: pg.ClientBase, statement: string | pg.QueryConfig): Promise<pg.QueryResult> {
  return new Promise((resolve, reject) => {
    const answer = (error: Error | undefined, result: pg.QueryResult): void => {
      if (error === undefined || error === null) resolve(result);
      else reject(error);
    };
    if (typeof statement === 'string') client.query(statement, answer);
    else client.query(statement, answer);
  });
}
