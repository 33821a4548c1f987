import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createTestDatabase, testDatabaseUrl, waitFor, type TestDatabase } from '@hearth/testkit';
import { silentLog } from '../../testing/world.js';
import { PgAdvisoryLeaderElection } from './pg-advisory-leader-election.js';

const hasDatabase = testDatabaseUrl() !== undefined;

describe.skipIf(!hasDatabase)('PgAdvisoryLeaderElection (skipped: needs TEST_DATABASE_URL, set by `npm test`)', () => {
  let database: TestDatabase | undefined;
  const lockKey = 0x7465_7374;

  beforeAll(async () => {
    database = await createTestDatabase();
  });

  afterAll(async () => {
    await database?.drop();
  });

  function election(): PgAdvisoryLeaderElection {
    return new PgAdvisoryLeaderElection({ url: database!.url, lockKey, log: silentLog, timeoutMs: 2_000 });
  }

  it('lets only one of two Managers on the same database lead, and the other take over when it goes', async () => {
    const first = election();
    const second = election();
    try {
      expect(await first.acquireOrConfirm()).toBe(true);
      expect(await second.acquireOrConfirm()).toBe(false);
      expect(await first.acquireOrConfirm()).toBe(true);
      await first.release();
      expect(await second.acquireOrConfirm()).toBe(true);
    } finally {
      await first.release();
      await second.release();
    }
  });

  it('loses leadership when its database session is killed, and takes it again afterwards', async () => {
    const leader = election();
    const admin = new pg.Client({ connectionString: database!.url });
    await admin.connect();
    try {
      expect(await leader.acquireOrConfirm()).toBe(true);
      await admin.query(`select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'hearth-manager-leader' and datname = current_database()`);
      // The backend ends a moment after pg_terminate_backend answers.
      await waitFor(async () => !(await leader.acquireOrConfirm()), { timeoutMs: 5_000, description: 'leadership is lost' });
      expect(await leader.acquireOrConfirm()).toBe(true);
    } finally {
      await admin.end();
      await leader.release();
    }
  });

  it('answers false, without throwing, when the database cannot be reached', async () => {
    const nowhere = new PgAdvisoryLeaderElection({ url: 'postgres://nobody@127.0.0.1:1/none', log: silentLog, timeoutMs: 500 });
    expect(await nowhere.acquireOrConfirm()).toBe(false);
    await nowhere.release();
  });
});
