import pg from 'pg';

/** A digest per table of the application's tables, to tell whether a request changed the database. */
export interface DatabaseChecksum {
  /** The tables it covers. */
  readonly tables: readonly string[];
  read(): Promise<Readonly<Record<string, string>>>;
  close(): Promise<void>;
}

/** Tables of the `public` schema but `excluded` (e.g. those refused requests legitimately write). */
export async function createDatabaseChecksum(url: string, excluded: readonly string[]): Promise<DatabaseChecksum> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const found = await client.query<{ name: string }>(
    "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename",
  );
  const tables = found.rows.map((row) => row.name).filter((name) => !excluded.includes(name));
  const quoted = (name: string): string => `"${name.replace(/"/g, '""')}"`;
  const sql = `SELECT ${tables
    .map(
      (name) =>
        `(SELECT md5(coalesce(string_agg(md5(t::text), '' ORDER BY md5(t::text)), '')) FROM ${quoted(name)} t) AS ${quoted(name)}`,
    )
    .join(', ')}`;
  return {
    tables,
    read: async () => (await client.query<Record<string, string>>(sql)).rows[0]!,
    close: () => client.end(),
  };
}

/** The tables whose digests differ. */
export function changedTables(before: Readonly<Record<string, string>>, after: Readonly<Record<string, string>>): string[] {
  return Object.keys(after).filter((name) => before[name] !== after[name]);
}
