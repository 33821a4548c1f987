import { createLogger } from '@hearth/http-server';
import { HttpAgentClient, defaultAgentClientOptions } from './adapters/agent-http/http-agent-client.js';
import { NodeImageInspector } from './adapters/fs/node-image-inspector.js';
import { openDatabase, pingDatabase } from './adapters/postgres/database.js';
import { migrate, readMigrations } from './adapters/postgres/migrator.js';
import { createPgRepositories } from './adapters/postgres/pg-repositories.js';
import { SystemClock } from './adapters/system/system-clock.js';
import { UlidIdGenerator } from './adapters/system/ulid-id-generator.js';
import { buildApp } from './build-app.js';
import { ConfigError, loadManagerConfig, redactedConfig, type ManagerConfig } from './config.js';

/** The composition root: the only place that reads the config and wires adapters to use cases. */
async function main(): Promise<void> {
  let config: ManagerConfig;
  try {
    config = loadManagerConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }

  const logger = createLogger({ name: 'hearth-manager', level: config.logLevel });
  logger.info({ config: redactedConfig(config) }, 'manager starting');

  const db = await openDatabase(
    config.databaseUrl === undefined
      ? { kind: 'pglite', dataDir: config.dataDir }
      : { kind: 'postgres', url: config.databaseUrl },
  );
  const applied = await migrate(db, await readMigrations());
  logger.info({ applied, database: config.databaseUrl === undefined ? 'pglite' : 'postgres' }, 'database migrated');

  const repositories = createPgRepositories(db);
  const app = await buildApp({
    logger,
    checkReadiness: () => pingDatabase(db),
    dependencies: {
      ...repositories,
      agents: new HttpAgentClient(defaultAgentClientOptions),
      inspector: new NodeImageInspector(config.imageRoot),
      clock: new SystemClock(),
      ids: new UlidIdGenerator(),
      log: logger.child({ component: 'use-cases' }),
      settings: {
        cpuOvercommit: config.cpuOvercommit,
        memoryOvercommit: config.memoryOvercommit,
        heartbeatIntervalMs: config.heartbeatIntervalMs,
        isMetricsEnabled: config.isMetricsEnabled,
      },
    },
  });

  let isClosing = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (isClosing) return;
    isClosing = true;
    logger.info({ signal }, 'manager stopping');
    try {
      await app.close();
      await db.destroy();
      logger.info({}, 'manager stopped');
      process.exit(0);
    } catch (error) {
      logger.error({ err: error }, 'manager did not stop cleanly');
      process.exit(1);
    }
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));

  const address = await app.listen({ host: config.bind.host, port: config.bind.port });
  logger.info({ address }, 'manager listening');
}

main().catch((error: unknown) => {
  // The logger may not exist yet: report on stderr and exit non-zero.
  process.stderr.write(`manager failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
