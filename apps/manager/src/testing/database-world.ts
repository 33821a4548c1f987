import type { UseCaseDependencies } from '../application/dependencies.js';
import { FakeAgentClient } from '../adapters/fake/fake-agent-client.js';
import { FixedClock } from '../adapters/fake/fixed-clock.js';
import type { Database } from '../adapters/postgres/database.js';
import { createPgRepositories } from '../adapters/postgres/pg-repositories.js';
import { UlidIdGenerator } from '../adapters/system/ulid-id-generator.js';
import { createWorld } from './world.js';

/**
 * Use-case dependencies over `db`, as a Manager on that database has them: its repositories, the
 * world's other fakes, a fake Agent client, a fixed clock and real ids (unique across Managers
 * sharing the database). `parts` replaces any of them, e.g. one Agent client or clock for several.
 */
export function useCaseDependenciesOver(db: Database, parts: Partial<UseCaseDependencies> = {}): UseCaseDependencies {
  return {
    ...createWorld().deps,
    ...createPgRepositories(db),
    agents: new FakeAgentClient(),
    clock: new FixedClock(),
    ids: new UlidIdGenerator(),
    ...parts,
  };
}
