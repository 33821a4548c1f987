import type { Database } from './database.js';
import { translated } from './database-errors.js';

/** The cluster id created with the database (migration 0013); it never changes. */
export async function readClusterId(db: Database): Promise<string> {
  const row = await translated(() => db.selectFrom('clusters').select('id').executeTakeFirstOrThrow());
  return row.id;
}
