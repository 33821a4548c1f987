import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { access, mkdir, readFile } from 'node:fs/promises';
import { createLogger } from '@hearth/http-server';
import { adoptVms } from './application/use-cases/adopt-vms.js';
import { prepareHost } from './application/use-cases/prepare-host.js';
import type { AgentContext } from './application/agent-context.js';
import { HostFactsCache, readHeartbeat, type HostStatusContext } from './application/use-cases/host-status.js';
import { vmCoordination } from './application/vmm-state-cache.js';
import { RegistrationLoop } from './application/cluster/registration-loop.js';
import { InventoryReads } from './http/inventory-reads.js';
import { ConsoleAttachments } from './application/use-cases/console-attachments.js';
import { ConsoleLogRotation } from './application/background/console-log-rotation.js';
import { NodeSerialConsoles } from './adapters/linux/node-serial-consoles.js';
import { FirecrackerProcessVmm } from './adapters/firecracker/firecracker-process-vmm.js';
import { HttpFirecrackerApi } from './adapters/firecracker/http-firecracker-api.js';
import { FileAgentIdentityStore } from './adapters/fs/file-agent-identity-store.js';
import { FileSnapshotCopyStore } from './adapters/fs/file-snapshot-copy-store.js';
import { FileVmRecordStore } from './adapters/fs/file-vm-record-store.js';
import { acquireRunDirLock, RunDirLockedError, type RunDirLock } from './adapters/system/run-dir-lock.js';
import { ClusterMembership } from './application/cluster/cluster-membership.js';
import { ExecFileCommandRunner } from './adapters/linux/exec-file-command-runner.js';
import { LinuxHostFiles } from './adapters/linux/linux-host-files.js';
import { IpBatchPool } from './adapters/linux/ip-batch.js';
import { IpJsonReader } from './adapters/linux/ip-json-reader.js';
import { LinuxHostNetwork } from './adapters/linux/linux-host-network.js';
import { NftHostFirewall } from './adapters/linux/nft-host-firewall.js';
import { NftSession } from './adapters/linux/nft-session.js';
import { LinuxHostProbe, resolveExecutable } from './adapters/linux/linux-host-probe.js';
import { LinuxHostScanner } from './adapters/linux/linux-host-scanner.js';
import { HttpManagerApi } from './adapters/manager/http-manager-api.js';
import { NodeTimers, SystemClock } from './adapters/system/system-clock.js';
import { AgentConfigError, loadAgentConfig, type AgentConfig } from './config.js';
import type { SpawnMode } from './domain/vm-record.js';
import { agentSecureContextOptions, createAgentApp, type AgentTlsOptions } from './http/create-agent-app.js';
import type { Server as TlsServer } from 'node:tls';
import { CertificateRenewal } from './application/cluster/certificate-renewal.js';
import { ensureJoined, JoinRefusedError } from './application/cluster/join-cluster.js';
import type { AgentTrust } from './application/ports/trust-store.js';
import { FileTrustStore } from './adapters/fs/file-trust-store.js';
import { NodeMetricsFifos } from './adapters/linux/node-metrics-fifos.js';
import { PromAgentMetrics } from './adapters/metrics/prom-agent-metrics.js';
import { VmFirecrackerMetrics } from './application/background/vm-firecracker-metrics.js';
import { WarmVmmPool } from './application/background/warm-vmm-pool.js';
import { createAgentMetricsApp, type AgentMetricsExposition } from './http/metrics-routes.js';
import { certificateValidity, generateEcKeyPair } from './adapters/system/ec-key-pair.js';
import { loadSessionSpawner } from './adapters/system/session-spawner.js';

async function detectSpawnMode(config: AgentConfig): Promise<SpawnMode> {
  if (config.spawnMode !== 'auto') return config.spawnMode;
  const hasSystemd = await access('/run/systemd/system').then(
    () => true,
    () => false,
  );
  return hasSystemd && (await resolveExecutable('systemd-run', config.searchPath)) !== null ? 'systemd-run' : 'direct';
}

/** The package version, written into the bundled Agent by scripts/bundle.mjs; absent in tsc's output. */
declare const HEARTH_AGENT_VERSION: string | undefined;

async function readAgentVersion(): Promise<string> {
  if (typeof HEARTH_AGENT_VERSION === 'string') return HEARTH_AGENT_VERSION;
  try {
    const manifest = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof manifest.version === 'string' ? manifest.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/** The join token as configured: the value, or the first line of the file named. */
async function readJoinToken(config: AgentConfig): Promise<string | null> {
  if (config.joinToken === null) return null;
  if (config.joinToken.kind === 'value') return config.joinToken.token;
  return (await readFile(config.joinToken.path, 'utf8')).trim();
}

/** The composition root: the only place that wires objects and reads the config. */
/** How often every running VM's serial console log is checked against its cap. */
const consoleLogRotationIntervalMs = 5_000;

/**
 * The warm VMMs restores take (ADR 0127), or null without any: none asked for, or a spawn mode in
 * which a VMM's unit or jail is named after its VM before it starts.
 */
function startVmmPool(
  context: AgentContext,
  config: AgentConfig,
  spawnMode: SpawnMode,
  logger: ReturnType<typeof createLogger>,
): WarmVmmPool | null {
  if (config.vmmPoolSize === 0) return null;
  if (spawnMode !== 'direct') {
    logger.warn({ spawnMode, vmmPoolSize: config.vmmPoolSize }, 'warm vmms need the direct spawn mode: none kept');
    return null;
  }
  const pool = new WarmVmmPool(
    {
      vmm: context.vmm,
      firecracker: context.firecracker,
      files: context.files,
      clock: context.clock,
      timers: new NodeTimers(),
      log: logger.child({ component: 'vmm-pool' }),
      newSlotId: () => randomBytes(8).toString('hex'),
    },
    {
      runDir: config.runDir,
      size: config.vmmPoolSize,
      // Only an Agent that may raise a process's priority again may lower it.
      niceness: process.geteuid?.() === 0 ? 19 : null,
      readyTimeoutMs: context.settings.readyTimeoutMs,
      retryMs: 1_000,
      maxRetryMs: 60_000,
      refillDelayMs: 5_000,
    },
  );
  pool.fill();
  return pool;
}

export async function runAgent(): Promise<void> {
  let config: AgentConfig;
  try {
    config = loadAgentConfig(process.env);
  } catch (error) {
    if (error instanceof AgentConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }

  const logger = createLogger({ name: 'hearth-agent', level: config.logLevel });
  const spawnMode = await detectSpawnMode(config);
  const runner = new ExecFileCommandRunner();
  const clock = new SystemClock();
  await mkdir(config.runDir, { recursive: true, mode: 0o700 });
  let runDirLock: RunDirLock;
  try {
    runDirLock = await acquireRunDirLock(config.runDir);
  } catch (error) {
    if (error instanceof RunDirLockedError) {
      logger.fatal({ runDir: config.runDir }, 'run directory held by another agent');
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  const membership = await ClusterMembership.load(new FileAgentIdentityStore(config.runDir));
  logger.info({ agentId: membership.agentId, clusterId: membership.clusterId }, 'agent identity loaded');

  // Trust: join the cluster at the first start (the join token is never needed again), then serve
  // HTTPS to Manager client certificates only and authenticate every call to the Manager.
  let trust: AgentTrust | null = null;
  const trustStore = new FileTrustStore(config.runDir);
  const manager =
    config.managerBases.length === 0
      ? null
      : new HttpManagerApi({ baseUrls: config.managerBases, timeoutMs: 5_000, credential: () => trust?.credential });
  if (manager !== null) {
    try {
      trust = await ensureJoined({
        store: trustStore,
        manager,
        agentId: membership.agentId,
        joinToken: await readJoinToken(config),
        generateKeyPair: generateEcKeyPair,
        clock,
        log: logger.child({ component: 'trust' }),
        random: Math.random,
        backoff: { initialMs: 500, maxMs: 10_000 },
      });
    } catch (error) {
      if (error instanceof JoinRefusedError) {
        logger.fatal({ code: error.code }, 'agent cannot join the cluster');
        process.stderr.write(`${error.message}\n`);
        process.exit(1);
      }
      throw error;
    }
    const joined = await membership.join(trust.clusterId);
    if (!joined.isJoined) {
      logger.fatal({ reason: joined.reason }, 'agent joined another cluster than it belongs to');
      process.stderr.write(`${joined.reason}\n`);
      process.exit(1);
    }
  }

  const firecracker = new HttpFirecrackerApi({ requestTimeoutMs: 30_000 });
  // Long-lived `ip -batch` processes for link changes: a fork of the Agent costs more CPU than the
  // change itself; a few of them, so TAPs made at once do not queue behind one process (ADR 0109).
  const ipBatch = new IpBatchPool({ netns: config.netns });
  // The list of every link (each inventory's TAPs left unrecorded) from a long-lived `ip -j`
  // instead of a fork each; a read of one link by its name still forks (ADR 0064).
  // It lists every link and reads no link by name (`link-list`): no details needed.
  const ipReader = new IpJsonReader({ netns: config.netns, isDetailed: false });
  const network = new LinuxHostNetwork(runner, { netns: config.netns, batch: ipBatch, reader: ipReader, readerUse: 'link-list' });
  // Changes go to nft as files it includes, in a directory of the Agent's own (the same path for
  // nft in the namespace: `ip netns exec` changes /etc and /sys only).
  const nftSession = new NftSession({
    prefix: config.netns ? ['ip', 'netns', 'exec', config.netns] : [],
    scriptDirectory: path.join(config.runDir, 'nft-scripts'),
  });
  const firewall = new NftHostFirewall(runner, {
    netns: config.netns,
    session: nftSession,
    // /proc/sys/net answers for the Agent's own namespace: files when the links live there, the
    // long-lived `ip` reader when they live in another.
    forwarding: config.netns
      ? { bridge: config.bridge, reader: ipReader }
      : { bridge: config.bridge, procIpv4Dir: '/proc/sys/net/ipv4' },
  });
  // The VMMs started by posix_spawn (no copy of the Agent's page tables); by a fork where its
  // binding cannot be loaded (an Agent file copied to a host alone).
  const vmmSpawn = loadSessionSpawner();
  logger.info({ method: vmmSpawn.spawner.method, reason: vmmSpawn.reason }, 'vmm spawn method');
  let context: AgentContext = {
    network,
    firewall,
    vmm: new FirecrackerProcessVmm({
      firecrackerBin: config.firecrackerBin,
      spawnMode,
      runner,
      clock,
      log: logger.child({ component: 'vmm' }),
      // `ip netns exec` enters the namespace and execs, so the pid stays Firecracker's.
      commandPrefix: config.netns === null ? [] : ['ip', 'netns', 'exec', config.netns],
      spawner: vmmSpawn.spawner,
    }),
    firecracker,
    records: new FileVmRecordStore(config.runDir, logger.child({ component: 'records' })),
    copies: new FileSnapshotCopyStore(config.runDir, logger.child({ component: 'snapshot-copies' })),
    // Beside vms/, on the same filesystem: a spare FIFO is linked into a VM's directory.
    files: new LinuxHostFiles(runner, { fifoSpareDirectory: path.join(config.runDir, 'fifo-spares') }),
    clock,
    log: logger,
    ...vmCoordination(),
    settings: {
      agentId: membership.agentId,
      runDir: config.runDir,
      bridge: config.bridge,
      bridgeAddressCidr: config.bridgeAddressCidr,
      imageRoot: config.imageRoot,
      readyTimeoutMs: 5_000,
      stopTimeoutMs: 10_000,
      egress:
        config.egress === null
          ? null
          : {
              ...config.egress,
              // The Agent's own listeners are never published to a guest.
              reservedTcpPorts: [config.bind.port, ...(config.metricsBind === null ? [] : [config.metricsBind.port])],
            },
      guard: config.guard,
    },
  };
  const adoption = await adoptVms(context);
  logger.info({ ...adoption, runDir: config.runDir }, 'vm records loaded');
  await prepareHost(context, new LinuxHostScanner(), logger);
  // Started once the sweep has removed what an earlier Agent's pool left.
  const vmmPool = startVmmPool(context, config, spawnMode, logger);
  if (vmmPool !== null) context = { ...context, vmmPool };

  const status: HostStatusContext = {
    probe: new LinuxHostProbe({
      agentVersion: await readAgentVersion(),
      firecrackerBin: config.firecrackerBin,
      pathVariable: config.searchPath,
      bridge: config.bridge,
      spawnMode,
      network,
      cpuCount: config.cpuCount,
      egress: config.egress === null ? 'off' : 'nat',
      isForwardingEnabled: () => firewall.isForwardingEnabled(),
    }),
    records: context.records,
    clock,
    hostName: config.name,
  };
  const promMetrics = new PromAgentMetrics();
  promMetrics.watchVms(context.records);
  promMetrics.watchHost(status.probe);
  const vmMetrics = new VmFirecrackerMetrics(
    {
      records: context.records,
      firecracker,
      fifos: new NodeMetricsFifos(logger.child({ component: 'metrics' })),
      counters: promMetrics,
      timers: new NodeTimers(),
      log: logger.child({ component: 'metrics' }),
    },
    { flushWaitMs: 1_000, syncIntervalMs: 5_000 },
  );
  await vmMetrics.sync();
  vmMetrics.start();
  const metrics: AgentMetricsExposition = { registry: promMetrics.registry, refresh: () => vmMetrics.refresh() };
  const tlsOf = (current: AgentTrust): AgentTlsOptions => ({
    caCertificatePem: current.caCertificatePem,
    certificatePem: current.certificatePem,
    privateKeyPem: current.privateKeyPem,
  });
  const consoles = new ConsoleAttachments(
    context,
    new NodeSerialConsoles(logger.child({ component: 'console' })),
    new NodeTimers(),
  );
  // Every VM's serial log stays under its cap whether anyone reads it or not.
  const consoleLogRotation = new ConsoleLogRotation(context, new NodeTimers(), consoleLogRotationIntervalMs);
  consoleLogRotation.start();
  // This process: a clone carrying a copy of the identity is another process at another address,
  // and a restarted Agent's inventory tags never match those of the process before it.
  const instanceId = randomBytes(16).toString('hex');
  const inventories = new InventoryReads(context, status.hostName, instanceId);
  const app = createAgentApp({
    logger,
    inventories,
    context,
    consoles,
    status,
    cluster: membership,
    metrics,
    ...(trust === null ? {} : { tls: tlsOf(trust) }),
  });
  await app.listen({ host: config.bind.host, port: config.bind.port });
  const metricsApp = config.metricsBind === null ? null : createAgentMetricsApp({ logger, metrics });
  if (metricsApp !== null && config.metricsBind !== null) {
    await metricsApp.listen({ host: config.metricsBind.host, port: config.metricsBind.port });
  }
  logger.info(
    {
      bind: config.bind,
      advertiseAddr: config.advertiseAddr,
      spawnMode,
      bridge: config.bridge,
      isTlsEnabled: trust !== null,
      metricsBind: config.metricsBind,
    },
    'agent started',
  );
  let renewal: CertificateRenewal | null = null;
  if (manager !== null && trust !== null) {
    renewal = new CertificateRenewal({
      store: trustStore,
      manager,
      generateKeyPair: generateEcKeyPair,
      validityOf: certificateValidity,
      timers: new NodeTimers(),
      clock,
      log: logger.child({ component: 'trust' }),
      random: Math.random,
      backoff: { initialMs: 1_000, maxMs: 60_000 },
      // New connections get the new certificate; open ones keep theirs until they close.
      onRenewed: (renewed) => {
        trust = renewed;
        (app.server as unknown as TlsServer).setSecureContext(agentSecureContextOptions(tlsOf(renewed)));
      },
    });
    renewal.start(trust);
  }

  let registration: RegistrationLoop | null = null;
  if (manager !== null) {
    // Heartbeats reuse facts for a short TTL; /health reads them fresh (see host-status.ts).
    const facts = new HostFactsCache(status.probe, clock);
    registration = new RegistrationLoop({
      manager,
      timers: new NodeTimers(),
      clock,
      log: logger.child({ component: 'registration' }),
      random: Math.random,
      registration: async () => ({
        name: config.name,
        agentId: membership.agentId,
        instanceId,
        ...(membership.clusterId === null ? {} : { clusterId: membership.clusterId }),
        addr: config.advertiseAddr,
        ...(await readHeartbeat(status, facts)),
      }),
      joinCluster: (clusterId) => membership.join(clusterId),
      heartbeat: () => readHeartbeat(status, facts, () => inventories.heartbeatTag()),
      heartbeatIntervalMs: config.heartbeatIntervalMs,
      backoff: { initialMs: 500, maxMs: 30_000 },
    });
    registration.start();
  } else {
    logger.info({}, 'registration with a manager disabled');
  }

  // VMs are deliberately left running: they survive an Agent restart and are re-adopted.
  let isStopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (isStopping) return;
    isStopping = true;
    logger.info({ signal }, 'agent stopping');
    await registration?.stop();
    await renewal?.stop();
    consoleLogRotation.stop();
    consoles.closeAll('shutting_down');
    await app.close();
    await metricsApp?.close();
    vmMetrics.stop();
    // Idle warm VMMs are the Agent's, not VMs': they go with it.
    await vmmPool?.close();
    await firecracker.close();
    await ipBatch.close();
    await ipReader.close();
    await nftSession.close();
    await runDirLock.release();
    logger.info({}, 'agent stopped');
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      shutdown(signal).then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error({ err: error }, 'agent shutdown failed');
          process.exit(1);
        },
      );
    });
  }
}
