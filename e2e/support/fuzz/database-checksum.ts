import pg from 'pg';

/** The database at one moment: a digest per table, and the row counts of the counted tables. */
export interface Snapshot {
  readonly digests: Readonly<Record<string, string>>;
  readonly rows: Readonly<Record<string, number>>;
}

/** A digest per table of the application's tables, to tell whether a request changed the database. */
export interface DatabaseChecksum {
  /** The tables it covers. */
  readonly tables: readonly string[];
  /** One query: every digest and every count. */
  read(): Promise<Snapshot>;
  close(): Promise<void>;
}

/**
 * Tables of the `public` schema but `excluded` (e.g. those refused requests legitimately write);
 * `table.column` leaves out one column (one written at any time, say, as a hint). The rows of the
 * `counted` tables are counted (one left out of the digests, say, that grows by design).
 */
export async function createDatabaseChecksum(
  url: string,
  options: { readonly excluded: readonly string[]; readonly counted?: readonly string[] },
): Promise<DatabaseChecksum> {
  const { excluded, counted = [] } = options;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const found = await client.query<{ name: string }>(
    "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename",
  );
  const tables = found.rows.map((row) => row.name).filter((name) => !excluded.includes(name));
  const quoted = (name: string): string => `"${name.replace(/"/g, '""')}"`;
  const literal = (text: string): string => `'${text.replace(/'/g, "''")}'`;
  const rowText = (name: string): string => {
    const columns = excluded.filter((entry) => entry.startsWith(`${name}.`)).map((entry) => entry.slice(name.length + 1));
    return columns.length === 0 ? 't::text' : `(to_jsonb(t) - ARRAY[${columns.map(literal).join(', ')}]::text[])::text`;
  };
  const digests = tables.map((name) => {
    const row = rowText(name);
    return `(SELECT md5(coalesce(string_agg(md5(${row}), '' ORDER BY md5(${row})), '')) FROM ${quoted(name)} t) AS ${quoted(name)}`;
  });
  const counts = counted.map((name, i) => `(SELECT count(*) FROM ${quoted(name)}) AS ${quoted(`count_${i}`)}`);
  const sql = `SELECT ${[...digests, ...counts].join(', ')}`;
  return {
    tables,
    read: async () => {
      const row = (await client.query<Record<string, string>>(sql)).rows[0]!;
      return {
        digests: Object.fromEntries(tables.map((name) => [name, row[name]!])),
        rows: Object.fromEntries(counted.map((name, i) => [name, Number(row[`count_${i}`])])),
      };
    },
    close: () => client.end(),
  };
}

/** The tables whose digests differ. */
export function changedTables(before: Snapshot, after: Snapshot): string[] {
  return Object.keys(after.digests).filter((name) => before.digests[name] !== after.digests[name]);
}
