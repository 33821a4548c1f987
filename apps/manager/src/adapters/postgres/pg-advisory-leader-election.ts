import pg from 'pg';
import type { LeaderElection } from '../../application/ports/leader-election.js';
import type { Log } from '../../application/ports/log.js';

export interface PgAdvisoryLeaderElectionOptions {
  readonly url: string;
  /** The same for every Manager sharing the database; apart from the migration lock's key. */
  readonly lockKey?: number;
  /** Limit for connecting and for each query on the dedicated session. */
  readonly timeoutMs?: number;
  readonly log: Log;
}

/** "hear" + 1: the migrator uses 0x68656172. */
export const reconcilerLockKey = 0x6865_6173;

/**
 * Leadership as a session-level `pg_try_advisory_lock` on a dedicated connection (never a pooled
 * one: the lock belongs to the session). The lock goes when the session does, so a Manager that
 * crashes or loses its connection (PostgreSQL restarted, network cut) loses leadership and another
 * Manager can take it. Each call on the leader checks the session with a round trip.
 *
 * A follower can also wait in the server's lock queue (`pg_advisory_lock` on a session of its own):
 * PostgreSQL grants the lock to it as soon as the leader's session ends, so a killed leader is
 * replaced within a round trip of its death rather than at the follower's next try.
 */
export class PgAdvisoryLeaderElection implements LeaderElection {
  private client: pg.Client | null = null;
  /** The session queued for the lock, while a wait is under way. */
  private waiting: { readonly client: pg.Client; readonly leads: Promise<boolean> } | null = null;
  private isClosing = false;

  constructor(private readonly options: PgAdvisoryLeaderElectionOptions) {}

  async acquireOrConfirm(): Promise<boolean> {
    if (this.isClosing) return false;
    if (this.client !== null) return this.confirm(this.client);
    // A queued session takes the lock first when it frees: another try now could only race it.
    if (this.waiting !== null) return false;
    return this.acquire();
  }

  awaitLeadership(): Promise<boolean> {
    if (this.isClosing) return Promise.resolve(false);
    if (this.client !== null) return Promise.resolve(true);
    if (this.waiting !== null) return this.waiting.leads;
    // No query timeout: the lock is waited for as long as another Manager leads.
    const client = new pg.Client({
      connectionString: this.options.url,
      connectionTimeoutMillis: this.options.timeoutMs ?? 3_000,
      keepAlive: true,
      application_name: 'hearth-manager-leader',
    });
    client.on('error', (error) => this.drop(client, error));
    const leads = (async (): Promise<boolean> => {
      let isGranted = false;
      try {
        await client.connect();
        // A backend waiting for a lock reads nothing from its client: without this (PostgreSQL 14+;
        // older servers refuse the setting and keep the wait as it is) a session closed by
        // `release()` or by this process's death would stay queued, and take the lock for nothing.
        await client.query('set client_connection_check_interval = 1000').catch(() => undefined);
        await client.query('select pg_advisory_lock($1)', [this.lockKey]);
        isGranted = true;
      } catch {
        // closed by `release()`, or the session lost: the next tick may try again
      }
      if (this.waiting?.client === client) this.waiting = null;
      // While a session waits, `acquireOrConfirm` takes no other: only a release can come between.
      if (!isGranted || this.isClosing) {
        await client.end().catch(() => undefined);
        return false;
      }
      this.client = client;
      this.options.log.info({}, 'reconciler leadership acquired (the previous leader went)');
      return true;
    })();
    this.waiting = { client, leads };
    return leads;
  }

  /**
   * Gives leadership up for good: unlocks explicitly before closing, so another Manager can take
   * it at once (closing alone frees the lock only when the server has noticed the session is gone).
   */
  async release(): Promise<void> {
    this.isClosing = true;
    const queued = this.waiting;
    this.waiting = null;
    // Closing a queued session ends its wait (its query fails, and it answers false).
    if (queued !== null) await queued.client.end().catch(() => undefined);
    const client = this.client;
    this.client = null;
    if (client === null) return;
    await client.query('select pg_advisory_unlock($1)', [this.lockKey]).catch(() => undefined);
    await client.end().catch(() => undefined);
  }

  private get lockKey(): number {
    return this.options.lockKey ?? reconcilerLockKey;
  }

  private async confirm(client: pg.Client): Promise<boolean> {
    try {
      // A limit of its own (a session taken from the lock queue was opened without one): `pg` reads
      // `query_timeout` from a query's config too, which its type declarations leave out.
      const check = { text: 'select 1', query_timeout: this.options.timeoutMs ?? 3_000 };
      await client.query(check);
      return true;
    } catch (error) {
      this.drop(client, error);
      return false;
    }
  }

  private async acquire(): Promise<boolean> {
    const timeoutMs = this.options.timeoutMs ?? 3_000;
    const client = new pg.Client({
      connectionString: this.options.url,
      connectionTimeoutMillis: timeoutMs,
      query_timeout: timeoutMs,
      keepAlive: true,
      application_name: 'hearth-manager-leader',
    });
    client.on('error', (error) => this.drop(client, error));
    try {
      await client.connect();
      const result = await client.query<{ is_locked: boolean }>('select pg_try_advisory_lock($1) as is_locked', [this.lockKey]);
      if (result.rows[0]?.is_locked !== true || this.isClosing) {
        await client.end().catch(() => undefined);
        return false;
      }
      this.client = client;
      this.options.log.info({}, 'reconciler leadership acquired');
      return true;
    } catch {
      await client.end().catch(() => undefined);
      return false;
    }
  }

  private drop(client: pg.Client, error: unknown): void {
    if (this.client !== client) return;
    this.client = null;
    this.options.log.warn({ err: error }, 'reconciler leadership lost: its database session ended');
    void client.end().catch(() => undefined);
  }
}
