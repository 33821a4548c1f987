import { resolve } from 'node:path';
import type { LevelWithSilent } from 'pino';
import { parseHostPort, type HostPort } from '@hearth/contracts';
import { parseAddressPool, type AddressPool } from './domain/address-pool.js';
import { consoleDir as builtConsoleDir } from './package-files.js';

export interface ManagerConfig {
  /** PostgreSQL URL (a secret: never log it); undefined → embedded PGlite in `dataDir`. */
  readonly databaseUrl: string | undefined;
  readonly dataDir: string;
  readonly bind: HostPort;
  readonly imageRoot: string;
  /**
   * The built web console served at `/` (MANAGER_CONSOLE_DIR; default the one built with the Manager,
   * `dist/console` beside this file). Without an `index.html` there the Manager serves no console.
   */
  readonly consoleDir: string;
  /** Reserved for raw kernel/rootfs paths in VM create (not accepted yet). */
  readonly isImagePathsAllowed: boolean;
  readonly isReconcilerDisabled: boolean;
  readonly isMetricsEnabled: boolean;
  readonly logLevel: LevelWithSilent;
  readonly heartbeatIntervalMs: number;
  readonly cpuOvercommit: number;
  readonly memoryOvercommit: number;
  /** Placement refuses hosts whose Agent reports KVM unusable (MANAGER_REQUIRE_KVM, default true). */
  readonly isKvmRequired: boolean;
  /** The reconciler's periodic resync (MANAGER_RESYNC_MS). */
  readonly resyncMs: number;
  /** Transient VM states younger than this are left to the request moving the VM (MANAGER_RECONCILE_GRACE_MS). */
  readonly reconcileGraceMs: number;
  /** VMs reconciled side by side (MANAGER_RECONCILE_CONCURRENCY). */
  readonly reconcileConcurrency: number;
  /**
   * Restarts in a row the `on-failure` policy allows (MANAGER_RESTART_MAX_ATTEMPTS); also the
   * reconciler's attempts at an accepted create whose Agent cannot be reached.
   */
  readonly restartMaxAttempts: number;
  /** First retry delay of the reconciler, doubled on each further attempt (MANAGER_RETRY_BACKOFF_MS). */
  readonly retryBackoffMs: number;
  /** How long VMM deaths of one VM are counted together by the crash-loop guard (MANAGER_CRASH_LOOP_WINDOW_MS). */
  readonly crashLoopWindowMs: number;
  /** Restarts within that window before a VM is left failed with VM_CRASH_LOOP (MANAGER_CRASH_LOOP_MAX_RESTARTS). */
  readonly crashLoopMaxRestarts: number;
  /** Uptime after which a VMM exit with code 0 is a guest reboot, not a crash (MANAGER_GUEST_REBOOT_MIN_UPTIME_MS). */
  readonly guestRebootMinUptimeMs: number;
  /** Live event streams one client may hold at once, and all clients together. */
  readonly eventStreams: { readonly perClient: number; readonly overall: number };
  /** Live events held for a stream client that does not read; beyond, it is dropped (MANAGER_EVENT_STREAM_MAX_QUEUED). */
  readonly eventStreamMaxQueued: number;
  /** How long a stream client may leave its connection full before it is dropped (MANAGER_EVENT_STREAM_STALL_MS). */
  readonly eventStreamStallMs: number;
  /** How often the event loop's delay is sampled for `nodejs_eventloop_lag_*` (MANAGER_EVENT_LOOP_SAMPLE_MS). */
  readonly eventLoopSampleIntervalMs: number;
  /** Pending `GET /v1/vms/{id}/wait` calls one client may hold at once, and all clients together. */
  readonly vmWaits: { readonly perClient: number; readonly overall: number };
  /**
   * Requests one API token (or, without one, one client address) may make a minute before it gets
   * 429 RATE_LIMITED (MANAGER_RATE_LIMIT_PER_MINUTE); /healthz and /readyz are not limited.
   */
  readonly rateLimitPerMinute: number;
  /** Events older than this are deleted (MANAGER_EVENT_RETENTION_MS). */
  readonly eventRetentionMs: number;
  /** At most this many events are kept; older ones are deleted (MANAGER_EVENT_RETENTION_MAX_COUNT). */
  readonly eventRetentionMaxCount: number;
  /** Where the cluster CA's private key lives (ADR 0014). */
  readonly ca: CaConfig;
  /** Lifetime of Agents' certificates (MANAGER_AGENT_CERT_TTL_MS); Agents renew after two thirds. */
  readonly agentCertificateTtlMs: number;
  /** Diff snapshots a chain may hold on top of its full snapshot (MANAGER_SNAPSHOT_CHAIN_MAX). */
  readonly snapshotChainMax: number;
  /** Lifetime of this Manager's client certificate (MANAGER_CLIENT_CERT_TTL_MS); renewed after two thirds. */
  readonly clientCertificateTtlMs: number;
  /**
   * Guest addresses: the pool (MANAGER_ADDRESS_POOL, default 172.30.0.0/16; its first address is the
   * gateway on every host's bridge), the DNS servers guests are given (MANAGER_DNS_SERVERS, comma
   * separated, default the gateway) and how long a released address rests before it is leased
   * again (MANAGER_ADDRESS_QUARANTINE_MS, default 10 minutes).
   */
  readonly addressing: { readonly pool: AddressPool; readonly quarantineMs: number };
}

export type CaConfig =
  /** Sealed in the database under the key-encryption key in this file (MANAGER_CA_KEK_FILE, created when missing). */
  | { readonly kind: 'sealed'; readonly keyEncryptionKeyFile: string }
  /** An operator's CA (MANAGER_CA_CERT_FILE and MANAGER_CA_KEY_FILE); the database keeps its certificate only. */
  | { readonly kind: 'files'; readonly certificateFile: string; readonly keyFile: string };

/** Every problem found in the environment, reported together. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const logLevels: readonly LevelWithSilent[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const truthy = new Set(['1', 'true', 'yes', 'on']);
const falsy = new Set(['0', 'false', 'no', 'off']);
const isCount = (n: number): boolean => Number.isInteger(n) && n >= 1 && n <= 100_000;
const countRule = 'an integer from 1 to 100000';

/** The guest address pool when MANAGER_ADDRESS_POOL is unset. */
export const defaultAddressPool = '172.30.0.0/16';

/** 100 requests a second for a minute on end: far above what a person, a script or the benchmark sends. */
export const defaultRateLimitPerMinute = 6000;

/**
 * Reads the Manager's configuration from `env`. Throws one ConfigError listing every invalid
 * variable; never falls back silently on an invalid value. The result is frozen.
 */
export function loadManagerConfig(env: Readonly<Record<string, string | undefined>>): ManagerConfig {
  const problems: string[] = [];
  const read = (name: string): string | undefined => {
    const value = env[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  };

  const flag = (name: string, fallback = false): boolean => {
    const value = read(name);
    if (value === undefined) return fallback;
    const lower = value.toLowerCase();
    if (truthy.has(lower)) return true;
    if (falsy.has(lower)) return false;
    problems.push(`${name} must be one of 1|true|yes|on|0|false|no|off, got "${value}"`);
    return false;
  };

  const number = (name: string, fallback: number, check: (n: number) => boolean, rule: string): number => {
    const value = read(name);
    if (value === undefined) return fallback;
    const parsed = Number(value);
    if (!/^\d+(\.\d+)?$/.test(value) || !check(parsed)) {
      problems.push(`${name} must be ${rule}, got "${value}"`);
      return fallback;
    }
    return parsed;
  };

  const databaseUrl = read('DATABASE_URL');
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    problems.push('DATABASE_URL must start with postgres:// or postgresql://');
  }

  const bind = parseBind(read('MANAGER_BIND') ?? '127.0.0.1:8080', problems);

  const imageRoot = read('MANAGER_IMAGE_ROOT') ?? '/srv/images';
  if (!imageRoot.startsWith('/')) problems.push(`MANAGER_IMAGE_ROOT must be an absolute path, got "${imageRoot}"`);

  const logLevelText = read('MANAGER_LOG_LEVEL') ?? 'info';
  const logLevel = logLevels.find((level) => level === logLevelText.toLowerCase());
  if (logLevel === undefined) problems.push(`MANAGER_LOG_LEVEL must be one of ${logLevels.join('|')}, got "${logLevelText}"`);

  const dataDir = resolve(read('MANAGER_DATA_DIR') ?? './data');
  const caCertificateFile = read('MANAGER_CA_CERT_FILE');
  const caKeyFile = read('MANAGER_CA_KEY_FILE');
  const kekFile = read('MANAGER_CA_KEK_FILE');
  let ca: CaConfig = { kind: 'sealed', keyEncryptionKeyFile: resolve(kekFile ?? resolve(dataDir, 'ca-kek.key')) };
  if (caCertificateFile !== undefined || caKeyFile !== undefined) {
    if (caCertificateFile === undefined || caKeyFile === undefined) {
      problems.push('MANAGER_CA_CERT_FILE and MANAGER_CA_KEY_FILE must be set together');
    } else if (kekFile !== undefined) {
      problems.push(
        'MANAGER_CA_KEK_FILE seals a CA kept in the database; it cannot be set with MANAGER_CA_CERT_FILE and MANAGER_CA_KEY_FILE',
      );
    } else {
      ca = { kind: 'files', certificateFile: resolve(caCertificateFile), keyFile: resolve(caKeyFile) };
    }
  }
  const certificateTtl = (name: string, fallback: number): number =>
    number(
      name,
      fallback,
      (n) => Number.isInteger(n) && n >= 1000 && n <= 366 * 86_400_000,
      'an integer from 1000 to 31622400000',
    );

  const poolText = read('MANAGER_ADDRESS_POOL') ?? defaultAddressPool;
  const dnsServers = (read('MANAGER_DNS_SERVERS') ?? '')
    .split(',')
    .map((server) => server.trim())
    .filter((server) => server !== '');
  let pool = parseAddressPool(poolText, dnsServers);
  if (typeof pool === 'string') {
    problems.push(`MANAGER_ADDRESS_POOL or MANAGER_DNS_SERVERS: ${pool}`);
    pool = parseAddressPool(defaultAddressPool) as AddressPool;
  }

  const consoleDir = read('MANAGER_CONSOLE_DIR') ?? builtConsoleDir;
  if (!consoleDir.startsWith('/')) problems.push(`MANAGER_CONSOLE_DIR must be an absolute path, got "${consoleDir}"`);

  const config: ManagerConfig = {
    databaseUrl,
    dataDir,
    bind,
    imageRoot: resolve(imageRoot),
    consoleDir: resolve(consoleDir),
    isImagePathsAllowed: flag('MANAGER_ALLOW_IMAGE_PATHS'),
    isReconcilerDisabled: flag('MANAGER_RECONCILER_DISABLED'),
    isMetricsEnabled: flag('MANAGER_ENABLE_METRICS', true),
    logLevel: logLevel ?? 'info',
    heartbeatIntervalMs: number(
      'MANAGER_HEARTBEAT_MS',
      5000,
      (n) => Number.isInteger(n) && n >= 100 && n <= 3_600_000,
      'an integer from 100 to 3600000',
    ),
    cpuOvercommit: number('MANAGER_CPU_OVERCOMMIT', 4, (n) => n > 0 && n <= 64, 'a number above 0 and at most 64'),
    memoryOvercommit: number('MANAGER_MEMORY_OVERCOMMIT', 1, (n) => n > 0 && n <= 16, 'a number above 0 and at most 16'),
    isKvmRequired: flag('MANAGER_REQUIRE_KVM', true),
    resyncMs: number(
      'MANAGER_RESYNC_MS',
      5000,
      (n) => Number.isInteger(n) && n >= 100 && n <= 3_600_000,
      'an integer from 100 to 3600000',
    ),
    reconcileGraceMs: number(
      'MANAGER_RECONCILE_GRACE_MS',
      30_000,
      (n) => Number.isInteger(n) && n >= 0 && n <= 3_600_000,
      'an integer from 0 to 3600000',
    ),
    reconcileConcurrency: number(
      'MANAGER_RECONCILE_CONCURRENCY',
      4,
      (n) => Number.isInteger(n) && n >= 1 && n <= 64,
      'an integer from 1 to 64',
    ),
    restartMaxAttempts: number(
      'MANAGER_RESTART_MAX_ATTEMPTS',
      5,
      (n) => Number.isInteger(n) && n >= 0 && n <= 1000,
      'an integer from 0 to 1000',
    ),
    retryBackoffMs: number(
      'MANAGER_RETRY_BACKOFF_MS',
      1000,
      (n) => Number.isInteger(n) && n >= 1 && n <= 3_600_000,
      'an integer from 1 to 3600000',
    ),
    crashLoopWindowMs: number(
      'MANAGER_CRASH_LOOP_WINDOW_MS',
      600_000,
      (n) => Number.isInteger(n) && n >= 1000 && n <= 86_400_000,
      'an integer from 1000 to 86400000',
    ),
    crashLoopMaxRestarts: number(
      'MANAGER_CRASH_LOOP_MAX_RESTARTS',
      5,
      (n) => Number.isInteger(n) && n >= 1 && n <= 1000,
      'an integer from 1 to 1000',
    ),
    guestRebootMinUptimeMs: number(
      'MANAGER_GUEST_REBOOT_MIN_UPTIME_MS',
      30_000,
      (n) => Number.isInteger(n) && n >= 0 && n <= 86_400_000,
      'an integer from 0 to 86400000',
    ),
    eventStreams: {
      perClient: number('MANAGER_EVENT_STREAMS_PER_CLIENT', 16, isCount, countRule),
      overall: number('MANAGER_EVENT_STREAMS_MAX', 256, isCount, countRule),
    },
    eventStreamMaxQueued: number('MANAGER_EVENT_STREAM_MAX_QUEUED', 1000, isCount, countRule),
    eventStreamStallMs: number(
      'MANAGER_EVENT_STREAM_STALL_MS',
      30_000,
      (n) => Number.isInteger(n) && n >= 100 && n <= 3_600_000,
      'an integer from 100 to 3600000',
    ),
    eventLoopSampleIntervalMs: number(
      'MANAGER_EVENT_LOOP_SAMPLE_MS',
      100,
      (n) => Number.isInteger(n) && n >= 1 && n <= 60_000,
      'an integer from 1 to 60000',
    ),
    vmWaits: {
      perClient: number('MANAGER_VM_WAITS_PER_CLIENT', 100, isCount, countRule),
      overall: number('MANAGER_VM_WAITS_MAX', 1000, isCount, countRule),
    },
    rateLimitPerMinute: number(
      'MANAGER_RATE_LIMIT_PER_MINUTE',
      defaultRateLimitPerMinute,
      (n) => Number.isInteger(n) && n >= 1 && n <= 1_000_000_000,
      'an integer from 1 to 1000000000',
    ),
    eventRetentionMs: number(
      'MANAGER_EVENT_RETENTION_MS',
      30 * 86_400_000,
      (n) => Number.isInteger(n) && n >= 60_000 && n <= 3650 * 86_400_000,
      'an integer from 60000 (1 minute) to 315360000000 (10 years)',
    ),
    eventRetentionMaxCount: number(
      'MANAGER_EVENT_RETENTION_MAX_COUNT',
      1_000_000,
      (n) => Number.isInteger(n) && n >= 100 && n <= 1_000_000_000,
      'an integer from 100 to 1000000000',
    ),
    ca,
    agentCertificateTtlMs: certificateTtl('MANAGER_AGENT_CERT_TTL_MS', 7 * 86_400_000),
    snapshotChainMax: number(
      'MANAGER_SNAPSHOT_CHAIN_MAX',
      8,
      (n) => Number.isInteger(n) && n >= 0 && n <= 64,
      'an integer from 0 to 64',
    ),
    clientCertificateTtlMs: certificateTtl('MANAGER_CLIENT_CERT_TTL_MS', 86_400_000),
    addressing: {
      pool,
      quarantineMs: number(
        'MANAGER_ADDRESS_QUARANTINE_MS',
        600_000,
        (n) => Number.isInteger(n) && n >= 0 && n <= 7 * 86_400_000,
        'an integer from 0 to 604800000 (7 days)',
      ),
    },
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze({
    ...config,
    bind: Object.freeze({ ...config.bind }),
    eventStreams: Object.freeze({ ...config.eventStreams }),
    vmWaits: Object.freeze({ ...config.vmWaits }),
    ca: Object.freeze({ ...config.ca }),
    addressing: Object.freeze({ ...config.addressing }),
  });
}

function parseBind(value: string, problems: string[]): HostPort {
  const bind = parseHostPort(value);
  if (typeof bind === 'string') {
    problems.push(`MANAGER_BIND ${bind}`);
    return { host: '127.0.0.1', port: 8080 };
  }
  return bind;
}

/** The configuration as it may be logged: secrets replaced. */
export function redactedConfig(config: ManagerConfig): Record<string, unknown> {
  return { ...config, databaseUrl: config.databaseUrl === undefined ? undefined : '[redacted]' };
}
