import { createLogger } from '@hearth/http-server';
import { HostContacts } from './application/host-contacts.js';
import { RecentHostListing, sharedListingMaxAgeMs } from './application/recent-host-listing.js';
import { HttpAgentClient, defaultAgentClientOptions } from './adapters/agent-http/http-agent-client.js';
import { NodeImageInspector } from './adapters/fs/node-image-inspector.js';
import { readClusterId } from './adapters/postgres/cluster-id.js';
import { connectionQueueOf, openDatabase, pingDatabase, type DatabaseTarget } from './adapters/postgres/database.js';
import { listenForEvents } from './adapters/postgres/event-notifications.js';
import { migrate, readMigrations } from './adapters/postgres/migrator.js';
import { NotifiedEventFeed } from './adapters/postgres/notified-event-feed.js';
import { createPgRepositories } from './adapters/postgres/pg-repositories.js';
import { PgAdvisoryLeaderElection } from './adapters/postgres/pg-advisory-leader-election.js';
import { NodeTimers } from './adapters/system/node-timers.js';
import { SingleProcessLeaderElection } from './adapters/system/single-process-leader-election.js';
import { SystemClock } from './adapters/system/system-clock.js';
import { noReconcileHints } from './application/ports/reconcile-hints.js';
import { EventRetention, defaultEventRetentionBatching } from './application/events/event-retention.js';
import { defaultEventStreamLimits } from './application/events/stream-events.js';
import { VmStateWaiters } from './application/events/vm-state-waiters.js';
import { ReconcileLoop } from './application/reconciler/reconcile-loop.js';
import { Reconciler } from './application/reconciler/reconciler.js';
import { UlidIdGenerator } from './adapters/system/ulid-id-generator.js';
import { buildApp } from './build-app.js';
import { writeAdminTokenFile } from './adapters/fs/admin-token-file.js';
import { readConsoleDirectory } from './adapters/fs/console-directory.js';
import { createFirstToken } from './application/use-cases/api-tokens.js';
import { ConfigError, loadManagerConfig, redactedConfig, type ManagerConfig } from './config.js';
import { ClusterCaError, loadClusterCa, type ClusterCaSource } from './adapters/tls/cluster-ca.js';
import { ClusterCertificateIssuer } from './adapters/tls/cluster-certificate-issuer.js';
import { KeyEncryptionKeyError, loadKeyEncryptionKey } from './adapters/tls/key-encryption-key.js';
import { RenewingClientCertificate } from './adapters/tls/renewing-client-certificate.js';
import { RandomSecretGenerator } from './adapters/system/random-secret-generator.js';
import { PromManagerMetrics } from './adapters/metrics/prom-manager-metrics.js';

/** The composition root: the only place that reads the config and wires adapters to use cases. */
export async function runManager(): Promise<void> {
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

  // A few lines a request at `info`: each written at once costs less than a trip through the thread pool (ADR 0119).
  const logger = createLogger({ name: 'hearth-manager', level: config.logLevel, isWrittenAtOnce: true });
  logger.info({ config: redactedConfig(config) }, 'manager starting');

  const databaseTarget: DatabaseTarget =
    config.databaseUrl === undefined
      ? { kind: 'pglite', dataDir: config.dataDir }
      : { kind: 'postgres', url: config.databaseUrl };
  const db = await openDatabase(databaseTarget);
  const applied = await migrate(db, await readMigrations());
  logger.info({ applied, database: config.databaseUrl === undefined ? 'pglite' : 'postgres' }, 'database migrated');

  const repositories = createPgRepositories(db);
  const clock = new SystemClock();
  const ids = new UlidIdGenerator();
  // The first Manager on an empty database makes the admin token: shown once, kept in a 0600 file.
  const firstToken = await createFirstToken({ tokens: repositories.tokens, ids, clock });
  if (firstToken !== undefined) {
    const file = await writeAdminTokenFile(config.dataDir, firstToken.secret);
    process.stderr.write(
      `\nHearth admin API token (shown this once; also saved in ${file}, mode 0600):\n\n  ${firstToken.secret}\n\n`,
    );
    logger.info({ tokenId: firstToken.token.id, file }, 'admin API token created');
  }
  // One LISTEN connection per process feeds every live event stream and wait of this Manager.
  const eventLog = logger.child({ component: 'events' });
  const eventFeed = new NotifiedEventFeed(repositories.events, eventLog);
  await eventFeed.start();
  const eventNotifications = await listenForEvents(
    databaseTarget,
    db,
    { onEventId: (id) => eventFeed.notify(id), onReconnected: () => eventFeed.catchUp() },
    eventLog,
  );
  const clusterId = await readClusterId(db);
  const timers = new NodeTimers();
  let ca: Awaited<ReturnType<typeof loadClusterCa>>;
  try {
    const caSource: ClusterCaSource =
      config.ca.kind === 'files'
        ? config.ca
        : { kind: 'sealed', keyEncryptionKey: await loadKeyEncryptionKey(config.ca.keyEncryptionKeyFile) };
    ca = await loadClusterCa(repositories.certificateAuthorities, caSource, clock);
  } catch (error) {
    if (error instanceof ClusterCaError || error instanceof KeyEncryptionKeyError) {
      logger.fatal({ err: error }, 'cluster certificate authority unusable');
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const clientCertificate = await RenewingClientCertificate.start({
    ca,
    clock,
    timers,
    log: logger.child({ component: 'tls' }),
    ttlMs: config.clientCertificateTtlMs,
  });
  const contacts = new HostContacts();
  const agents = new HttpAgentClient({
    ...defaultAgentClientOptions,
    onAnswer: (addr) => contacts.answered(addr, clock.now()),
    clusterId,
    tls: { caCertificatePem: ca.certificatePem, clientCertificate },
  });
  const metrics = new PromManagerMetrics({
    isProcessCollected: true,
    eventLoopSampleIntervalMs: config.eventLoopSampleIntervalMs,
  });
  const vmWaiters = new VmStateWaiters({ vms: repositories.vms, eventFeed, timers, log: eventLog });
  const reconcilerLog = logger.child({ component: 'reconciler' });
  const fullResyncIntervalMs = 60_000;
  const reconciler = new Reconciler(
    { ...repositories, agents, contacts, clock, log: reconcilerLog, metrics },
    {
      heartbeatIntervalMs: config.heartbeatIntervalMs,
      graceMs: config.reconcileGraceMs,
      concurrency: config.reconcileConcurrency,
      inventoryMaxAgeMs: Math.min(1_000, Math.floor(config.resyncMs / 2)),
      // A full pass about once a minute (every pass when they are a minute or more apart).
      fullResyncEvery: Math.max(1, Math.round(fullResyncIntervalMs / config.resyncMs)),
      retry: {
        initialBackoffMs: config.retryBackoffMs,
        maxBackoffMs: 60_000,
        maxRestartAttempts: config.restartMaxAttempts,
        crashLoopWindowMs: config.crashLoopWindowMs,
        crashLoopMaxRestarts: config.crashLoopMaxRestarts,
        guestRebootMinUptimeMs: config.guestRebootMinUptimeMs,
      },
    },
  );
  // Only the leader (a PostgreSQL advisory lock; PGlite has one process) reconciles.
  const reconcileLoop = config.isReconcilerDisabled
    ? null
    : new ReconcileLoop(
        {
          reconciler,
          election:
            config.databaseUrl === undefined
              ? new SingleProcessLeaderElection()
              : new PgAdvisoryLeaderElection({ url: config.databaseUrl, log: reconcilerLog }),
          timers,
          log: reconcilerLog,
          metrics,
        },
        { resyncMs: config.resyncMs },
      );
  // The leader (the Manager running the reconciler) keeps the event log within its limits.
  const eventRetention = new EventRetention(
    { events: repositories.events, clock, timers, log: eventLog, isLeader: () => reconcileLoop?.isLeading ?? false },
    { maxAgeMs: config.eventRetentionMs, maxCount: config.eventRetentionMaxCount, ...defaultEventRetentionBatching },
  );
  metrics.watchVms(repositories.vms);
  metrics.watchHosts(repositories.hosts, clock, config.heartbeatIntervalMs);
  metrics.watchReconciler(
    () => reconciler.queueStats(),
    () => reconcileLoop?.isLeading ?? false,
  );
  const connectionQueue = connectionQueueOf(db);
  if (connectionQueue !== undefined) metrics.watchDatabaseConnections(connectionQueue);
  const consoleFiles = await readConsoleDirectory(config.consoleDir);
  if (consoleFiles === undefined) {
    logger.warn(
      { consoleDir: config.consoleDir },
      'no web console: no index.html in the console directory (npm run build makes it)',
    );
  }
  const app = await buildApp({
    logger,
    consoleFiles,
    metrics,
    eventStream: {
      heartbeatMs: 15_000,
      limits: { ...defaultEventStreamLimits, maxQueuedEvents: config.eventStreamMaxQueued, stallMs: config.eventStreamStallMs },
      concurrency: config.eventStreams,
      logReadConcurrency: 2,
    },
    vmWaits: config.vmWaits,
    rateLimit: { perMinute: config.rateLimitPerMinute },
    checkReadiness: () => pingDatabase(db),
    reconcilerRole: () => (reconcileLoop === null ? 'disabled' : reconcileLoop.isLeading ? 'leader' : 'follower'),
    dependencies: {
      ...repositories,
      eventFeed,
      agents,
      contacts,
      recentHosts: new RecentHostListing(repositories.hosts, clock, sharedListingMaxAgeMs(config.heartbeatIntervalMs)),
      trust: repositories.trust,
      issuer: new ClusterCertificateIssuer(ca),
      secrets: new RandomSecretGenerator(),
      inspector: new NodeImageInspector(config.imageRoot),
      clock,
      timers,
      vmWaiters,
      ids,
      log: logger.child({ component: 'use-cases' }),
      hints: reconcileLoop === null ? noReconcileHints : reconciler,
      metrics,
      settings: {
        cpuOvercommit: config.cpuOvercommit,
        memoryOvercommit: config.memoryOvercommit,
        heartbeatIntervalMs: config.heartbeatIntervalMs,
        isMetricsEnabled: config.isMetricsEnabled,
        isKvmRequired: config.isKvmRequired,
        clusterId,
        agentCertificateTtlMs: config.agentCertificateTtlMs,
        snapshotChainMax: config.snapshotChainMax,
        addressing: config.addressing,
      },
    },
  });

  let isClosing = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (isClosing) return;
    isClosing = true;
    logger.info({ signal }, 'manager stopping');
    await eventRetention.stop();
    await reconcileLoop?.stop();
    await app.close();
    clientCertificate.stop();
    await agents.close();
    await eventNotifications.close();
    eventFeed.close();
    await db.destroy();
    logger.info({}, 'manager stopped');
    process.exit(0);
  };
  const stopOnSignal = (signal: NodeJS.Signals): void => {
    shutdown(signal).catch((error: unknown) => {
      logger.error({ err: error }, 'manager did not stop cleanly');
      process.exit(1);
    });
  };
  process.once('SIGTERM', () => stopOnSignal('SIGTERM'));
  process.once('SIGINT', () => stopOnSignal('SIGINT'));

  const address = await app.listen({ host: config.bind.host, port: config.bind.port });
  logger.info({ address }, 'manager listening');
  if (reconcileLoop === null) logger.warn({}, 'reconciler disabled (MANAGER_RECONCILER_DISABLED)');
  else {
    reconcileLoop.start();
    eventRetention.start();
  }
}
