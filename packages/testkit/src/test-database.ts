import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** Admin URL of the throwaway PostgreSQL server `npm test` starts (env TEST_DATABASE_URL), if any. */
export function testDatabaseUrl(): string | undefined {
  const url = process.env['TEST_DATABASE_URL'];
  return url === undefined || url === '' ? undefined : url;
}

export interface TestDatabase {
  /** The new database's name (`hearth_test_<random>`); usable as a `template` once it is migrated. */
  readonly name: string;
  /** Connection URL of the new database. */
  readonly url: string;
  /** Drops the database, ending its open connections (WITH (FORCE)). Idempotent. */
  drop(): Promise<void>;
}

export interface CreateTestDatabaseOptions {
  /**
   * Clone this database (CREATE DATABASE ... TEMPLATE). Migrate a template once, close every
   * connection to it, then clone it per test file.
   */
  readonly template?: string;
}

const identifierPattern = /^[a-z_][a-z0-9_]{0,62}$/;

function adminUrl(): string {
  const url = testDatabaseUrl();
  if (url === undefined) {
    throw new Error('TEST_DATABASE_URL is not set: run the tests with `npm test`, which starts a throwaway PostgreSQL');
  }
  return url;
}

async function asAdmin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl() });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Creates a fresh database (empty, or cloned from `template`) on the TEST_DATABASE_URL server. */
export async function createTestDatabase(options: CreateTestDatabaseOptions = {}): Promise<TestDatabase> {
  const name = `hearth_test_${randomBytes(6).toString('hex')}`;
  const template = options.template;
  if (template !== undefined && !identifierPattern.test(template)) {
    throw new Error(`template must be a plain lower-case database name, got ${JSON.stringify(template)}`);
  }
  await asAdmin(`CREATE DATABASE "${name}"${template === undefined ? '' : ` TEMPLATE "${template}"`}`);
  const url = new URL(adminUrl());
  url.pathname = `/${name}`;
  let dropping: Promise<void> | undefined;
  return {
    name,
    url: url.toString(),
    drop() {
      dropping ??= asAdmin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      return dropping;
    },
  };
}
