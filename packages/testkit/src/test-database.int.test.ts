import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { missingRequirements } from './environment.js';
import { createTestDatabase } from './test-database.js';

const skipReason = missingRequirements({ database: true });

async function query<T>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows as T[];
  } finally {
    await client.end();
  }
}

describe.skipIf(skipReason)(`createTestDatabase${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it('creates an empty database that can be connected to, and drop removes it', async () => {
    const database = await createTestDatabase();
    try {
      const rows = await query<{ name: string }>(database.url, 'SELECT current_database() AS name');
      expect(rows[0]?.name).toBe(database.name);
    } finally {
      await database.drop();
    }
    await expect(query(database.url, 'SELECT 1')).rejects.toThrow(/does not exist/);
  });

  it('drop succeeds while a connection to the database is still open', async () => {
    const database = await createTestDatabase();
    const client = new pg.Client({ connectionString: database.url });
    client.on('error', () => undefined);
    await client.connect();
    try {
      await database.drop();
    } finally {
      await client.end().catch(() => undefined);
    }
    await expect(query(database.url, 'SELECT 1')).rejects.toThrow(/does not exist/);
  });

  it('clones a template database with its tables', async () => {
    const template = await createTestDatabase();
    try {
      await query(template.url, 'CREATE TABLE hosts (id text PRIMARY KEY)');
      const clone = await createTestDatabase({ template: template.name });
      try {
        const rows = await query<{ n: string }>(clone.url, 'SELECT count(*) AS n FROM hosts');
        expect(rows[0]?.n).toBe('0');
      } finally {
        await clone.drop();
      }
    } finally {
      await template.drop();
    }
  });
});
