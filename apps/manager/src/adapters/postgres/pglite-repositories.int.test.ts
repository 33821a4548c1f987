import { afterAll, beforeAll } from 'vitest';
import { sql } from 'kysely';
import { describeEventRepositoryContract } from '../../testing/event-repository-contract.js';
import { describeIdempotencyRepositoryContract } from '../../testing/idempotency-repository-contract.js';
import { describeRepositoryContract } from '../../testing/repository-contract.js';
import { describeSnapshotRepositoryContract } from '../../testing/snapshot-repository-contract.js';
import { describeTemplateRepositoryContract } from '../../testing/template-repository-contract.js';
import { describeTrustRepositoryContract } from '../../testing/trust-repository-contract.js';
import { openDatabase, type Database } from './database.js';
import { migrate, readMigrations } from './migrator.js';
import { createPgRepositories } from './pg-repositories.js';

// Starting PGlite takes seconds: one in-memory instance for the file, emptied after every test.
let db: Database;

beforeAll(async () => {
  db = await openDatabase({ kind: 'pglite' });
  await migrate(db, await readMigrations());
});

afterAll(async () => {
  await db?.destroy();
});

describeRepositoryContract('PGlite (in memory)', async () => ({
  repos: createPgRepositories(db),
  close: async () => {
    await sql`truncate events, idempotency_keys, snapshots, address_leases, published_ports, vms, templates, images, hosts, api_tokens, audit_log`.execute(
      db,
    );
    await sql`delete from projects where name <> 'default'`.execute(db);
  },
}));

const emptied = async (): Promise<void> => {
  await sql`truncate events, idempotency_keys, snapshots, address_leases, published_ports, vms, templates, images, hosts, api_tokens, audit_log`.execute(
    db,
  );
  await sql`delete from projects where name <> 'default'`.execute(db);
  await sql`update event_retention set pruned_through_id = 0, pruned_at = null`.execute(db);
};

describeEventRepositoryContract('PGlite (in memory)', async () => ({ events: createPgRepositories(db).events, close: emptied }));

describeIdempotencyRepositoryContract('PGlite (in memory)', async () => ({
  idempotency: createPgRepositories(db).idempotency,
  close: emptied,
}));

describeTemplateRepositoryContract('PGlite (in memory)', async () => ({ ...createPgRepositories(db), close: emptied }));

describeSnapshotRepositoryContract('PGlite (in memory)', async () => ({ ...createPgRepositories(db), close: emptied }));

describeTrustRepositoryContract('PGlite (in memory)', async () => ({
  ...createPgRepositories(db),
  close: async () => {
    await sql`truncate events, idempotency_keys, snapshots, address_leases, published_ports, vms, templates, images, hosts, join_tokens, agent_credentials, certificate_authorities`.execute(
      db,
    );
  },
}));
