import { sql } from 'kysely';
import type { Database } from '../adapters/postgres/database.js';

/**
 * Empties every table the repository contract suites write, keeping the default project, so the next
 * test of a file that shares one migrated database starts from a fresh one.
 */
export async function emptyDatabase(db: Database): Promise<void> {
  await sql`truncate events, idempotency_keys, snapshot_copies, snapshots, address_leases, address_pool_frontiers, published_ports, vms, vm_deletions, host_allocations, project_holdings, templates, images, hosts, api_tokens, audit_log, join_tokens, agent_credentials, certificate_authorities`.execute(
    db,
  );
  await sql`delete from projects where name <> 'default'`.execute(db);
  await sql`update event_retention set pruned_through_id = 0, pruned_at = null`.execute(db);
}
