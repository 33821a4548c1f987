import pg from 'pg';

/**
 * A `pg` pool on `connectionString` whose connections record the text of every message they send
 * (a statement's text, or `begin`), in order, into `sent`.
 */
export function recordingPool(connectionString: string, max: number, sent: string[]): pg.Pool {
  const pool = new pg.Pool({ connectionString, max });
  pool.on('connect', (client) => {
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as { query: unknown }).query = (...args: unknown[]) => {
      const [statement] = args;
      sent.push(typeof statement === 'string' ? statement : (statement as { text: string }).text);
      return query(...args);
    };
  });
  return pool;
}
