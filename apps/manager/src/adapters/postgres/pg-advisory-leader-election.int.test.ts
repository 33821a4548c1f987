import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createTestDatabase, missingRequirements, waitFor, type TestDatabase } from '@hearth/testkit';
import { silentLog } from '../../testing/world.js';
import { PgAdvisoryLeaderElection } from './pg-advisory-leader-election.js';

const skipReason = missingRequirements({ database: true });
/**
 * Only a safety net for the polls below, which end as soon as PostgreSQL has done what is awaited
 * (a terminated backend exits and frees its locks): generous, because under a full suite the
 * backend's exit can take seconds on two shared cores.
 */
const serverReactionMs = 20_000;

describe.skipIf(skipReason)(`PgAdvisoryLeaderElection${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
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

  it(
    'loses leadership when its database session is killed, and takes it again afterwards',
    async () => {
      const leader = election();
      const rival = election();
      const admin = new pg.Client({ connectionString: database!.url });
      await admin.connect();
      try {
        expect(await leader.acquireOrConfirm()).toBe(true);
        const terminated = await admin.query<{ pid: number }>(
          `select pid from pg_stat_activity
            where application_name = 'hearth-manager-leader' and datname = current_database() and pid <> pg_backend_pid()`,
        );
        expect(terminated.rows).toHaveLength(1);
        await admin.query('select pg_terminate_backend($1)', [terminated.rows[0]!.pid]);
        // pg_terminate_backend only signals: the lock is free once that backend has exited, which a
        // rival sees by taking it. Polled until then, however long the server takes under load.
        await waitFor(() => rival.acquireOrConfirm(), {
          timeoutMs: serverReactionMs,
          intervalMs: 20,
          description: 'a rival takes the lock the killed session held',
        });
        // Whether the old leader learns it from the broken connection or from a fresh try, it no longer leads.
        expect(await leader.acquireOrConfirm()).toBe(false);
        expect(await rival.acquireOrConfirm()).toBe(true);
        await rival.release();
        expect(await leader.acquireOrConfirm()).toBe(true);
      } finally {
        await admin.end();
        await rival.release();
        await leader.release();
      }
    },
    2 * serverReactionMs,
  );

  it(
    "takes leadership from the server's lock queue the moment the leader's session ends",
    async () => {
      const leader = election();
      const follower = election();
      try {
        expect(await leader.acquireOrConfirm()).toBe(true);
        let leads: boolean | undefined;
        const waited = follower.awaitLeadership().then((answer) => (leads = answer));
        // Queued behind the leader: it neither leads nor tries again beside its queued session.
        await waitFor(async () => (await queuedSessions()) === 1, {
          timeoutMs: serverReactionMs,
          intervalMs: 20,
          description: "the follower's session waits for the lock",
        });
        expect([leads, await follower.acquireOrConfirm()]).toEqual([undefined, false]);
        // The leader goes as a killed process does: its session ends without an unlock.
        const admin = new pg.Client({ connectionString: database!.url });
        await admin.connect();
        try {
          const holder = await admin.query<{ pid: number }>(
            `select pid from pg_locks where locktype = 'advisory' and granted and objid = $1`,
            [lockKey],
          );
          expect(holder.rows).toHaveLength(1);
          await admin.query('select pg_terminate_backend($1)', [holder.rows[0]!.pid]);
        } finally {
          await admin.end();
        }
        expect(await waited).toBe(true);
        expect(await follower.acquireOrConfirm()).toBe(true);
        expect(await leader.acquireOrConfirm()).toBe(false);
      } finally {
        await follower.release();
        await leader.release();
      }
    },
    2 * serverReactionMs,
  );

  it('ends a wait for leadership when released, answering false', async () => {
    const leader = election();
    const follower = election();
    try {
      expect(await leader.acquireOrConfirm()).toBe(true);
      const waited = follower.awaitLeadership();
      await waitFor(async () => (await queuedSessions()) === 1, {
        timeoutMs: serverReactionMs,
        intervalMs: 20,
        description: "the follower's session waits for the lock",
      });
      await follower.release();
      expect(await waited).toBe(false);
      // Its session is closed: the server drops it from the queue once its backend has exited.
      await waitFor(async () => (await queuedSessions()) === 0, {
        timeoutMs: serverReactionMs,
        intervalMs: 20,
        description: "the follower's session leaves the lock queue",
      });
      expect(await leader.acquireOrConfirm()).toBe(true);
    } finally {
      await leader.release();
    }
  });

  /** Sessions of this database waiting for the test's advisory lock. */
  async function queuedSessions(): Promise<number> {
    const admin = new pg.Client({ connectionString: database!.url });
    await admin.connect();
    try {
      const { rows } = await admin.query<{ queued: string }>(
        `select count(*) as queued from pg_locks l join pg_database d on d.oid = l.database
          where l.locktype = 'advisory' and not l.granted and d.datname = current_database() and l.objid = $1`,
        [lockKey],
      );
      return Number(rows[0]?.queued ?? 0);
    } finally {
      await admin.end();
    }
  }

  it('answers false, without throwing, when the database cannot be reached', async () => {
    const nowhere = new PgAdvisoryLeaderElection({ url: 'postgres://nobody@127.0.0.1:1/none', log: silentLog, timeoutMs: 500 });
    expect(await nowhere.acquireOrConfirm()).toBe(false);
    await nowhere.release();
  });
});
