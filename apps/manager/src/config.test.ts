import { describe, expect, it } from 'vitest';
import { ConfigError, loadManagerConfig } from './config.js';

function problemsOf(env: Record<string, string>): readonly string[] {
  try {
    loadManagerConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('loadManagerConfig', () => {
  it('uses the documented defaults for an empty environment', () => {
    const config = loadManagerConfig({});
    expect(config).toMatchObject({
      databaseUrl: undefined,
      bind: { host: '127.0.0.1', port: 8080 },
      imageRoot: '/srv/images',
      isImagePathsAllowed: false,
      isReconcilerDisabled: false,
      isMetricsEnabled: true,
      logLevel: 'info',
      heartbeatIntervalMs: 5000,
      cpuOvercommit: 4,
      memoryOvercommit: 1,
    });
    expect(config.dataDir).toMatch(/\/data$/);
  });

  it('uses the documented defaults for the limits on streams, waits and the event log', () => {
    expect(loadManagerConfig({})).toMatchObject({
      eventStreams: { perClient: 16, overall: 256 },
      eventStreamMaxQueued: 1000,
      eventStreamStallMs: 30_000,
      vmWaits: { perClient: 100, overall: 1000 },
      eventRetentionMs: 30 * 86_400_000,
      eventRetentionMaxCount: 1_000_000,
    });
  });

  it('samples the event loop’s delay every 100 ms unless MANAGER_EVENT_LOOP_SAMPLE_MS says otherwise', () => {
    expect(loadManagerConfig({}).eventLoopSampleIntervalMs).toBe(100);
    expect(loadManagerConfig({ MANAGER_EVENT_LOOP_SAMPLE_MS: '10' }).eventLoopSampleIntervalMs).toBe(10);
    expect(() => loadManagerConfig({ MANAGER_EVENT_LOOP_SAMPLE_MS: '0' })).toThrow(
      'MANAGER_EVENT_LOOP_SAMPLE_MS must be an integer from 1 to 60000, got "0"',
    );
  });

  it('refuses a zero cap and a retention below one minute', () => {
    expect(() =>
      loadManagerConfig({ MANAGER_EVENT_STREAMS_MAX: '0', MANAGER_VM_WAITS_PER_CLIENT: 'x', MANAGER_EVENT_RETENTION_MS: '1000' }),
    ).toThrow(/MANAGER_EVENT_STREAMS_MAX[\s\S]*MANAGER_VM_WAITS_PER_CLIENT[\s\S]*MANAGER_EVENT_RETENTION_MS/);
  });

  it('limits each token to 6000 requests a minute unless MANAGER_RATE_LIMIT_PER_MINUTE says otherwise', () => {
    expect(loadManagerConfig({}).rateLimitPerMinute).toBe(6000);
    expect(loadManagerConfig({ MANAGER_RATE_LIMIT_PER_MINUTE: '120' }).rateLimitPerMinute).toBe(120);
  });

  it.each(['0', '-5', '1.5', 'lots', '1000000001'])('refuses %s as a rate limit', (value) => {
    expect(() => loadManagerConfig({ MANAGER_RATE_LIMIT_PER_MINUTE: value })).toThrow(
      `MANAGER_RATE_LIMIT_PER_MINUTE must be an integer from 1 to 1000000000, got "${value}"`,
    );
  });

  it.each(['1', 'true', 'YES', 'on'])('reads %s as on', (value) => {
    expect(loadManagerConfig({ MANAGER_ENABLE_METRICS: value }).isMetricsEnabled).toBe(true);
  });

  it('turns per-VM Firecracker metrics off with MANAGER_ENABLE_METRICS=off', () => {
    expect(loadManagerConfig({ MANAGER_ENABLE_METRICS: 'off' }).isMetricsEnabled).toBe(false);
  });

  it.each(['0', 'false', 'no', 'OFF'])('reads %s as off', (value) => {
    expect(loadManagerConfig({ MANAGER_RECONCILER_DISABLED: value }).isReconcilerDisabled).toBe(false);
  });

  it('leases guest addresses from 172.30.0.0/16 with its gateway as DNS server and a 10-minute quarantine by default', () => {
    const { addressing } = loadManagerConfig({});
    expect(addressing.pool).toMatchObject({ cidr: '172.30.0.0/16', prefixLength: 16 });
    expect(addressing.pool.dnsServers).toEqual([addressing.pool.gateway]);
    expect(addressing.quarantineMs).toBe(600_000);
  });

  it('takes another pool, DNS servers and quarantine, and refuses a pool with host bits or DNS servers among its guests', () => {
    const config = loadManagerConfig({
      MANAGER_ADDRESS_POOL: '10.20.0.0/24',
      MANAGER_DNS_SERVERS: '9.9.9.9, 10.20.0.1',
      MANAGER_ADDRESS_QUARANTINE_MS: '0',
    });
    expect(config.addressing).toMatchObject({ pool: { cidr: '10.20.0.0/24', prefixLength: 24 }, quarantineMs: 0 });
    expect(config.addressing.pool.dnsServers).toHaveLength(2);
    expect(() => loadManagerConfig({ MANAGER_ADDRESS_POOL: '10.20.0.1/24' })).toThrow(/MANAGER_ADDRESS_POOL.*no host bits/);
    expect(() => loadManagerConfig({ MANAGER_DNS_SERVERS: '172.30.4.4' })).toThrow(/guest address/);
    expect(() => loadManagerConfig({ MANAGER_ADDRESS_POOL: '10.0.0.0/31' })).toThrow(/prefix length/);
  });

  it('serves the web console built beside the Manager unless MANAGER_CONSOLE_DIR names another, absolute, directory', () => {
    expect(loadManagerConfig({}).consoleDir).toMatch(/\/console$/);
    expect(loadManagerConfig({ MANAGER_CONSOLE_DIR: '/srv/hearth-console' }).consoleDir).toBe('/srv/hearth-console');
    expect(problemsOf({ MANAGER_CONSOLE_DIR: 'relative/console' })).toEqual([
      'MANAGER_CONSOLE_DIR must be an absolute path, got "relative/console"',
    ]);
  });

  it('reports every invalid variable at once', () => {
    const problems = problemsOf({
      MANAGER_ALLOW_IMAGE_PATHS: 'maybe',
      MANAGER_BIND: 'localhost',
      MANAGER_HEARTBEAT_MS: '-5',
      MANAGER_CPU_OVERCOMMIT: 'lots',
      MANAGER_LOG_LEVEL: 'loud',
      DATABASE_URL: 'mysql://x',
      MANAGER_IMAGE_ROOT: 'relative/path',
    });
    expect(problems).toHaveLength(7);
    for (const name of [
      'MANAGER_ALLOW_IMAGE_PATHS',
      'MANAGER_BIND',
      'MANAGER_HEARTBEAT_MS',
      'MANAGER_CPU_OVERCOMMIT',
      'MANAGER_LOG_LEVEL',
      'DATABASE_URL',
      'MANAGER_IMAGE_ROOT',
    ]) {
      expect(problems.some((p) => p.startsWith(name))).toBe(true);
    }
  });

  it.each(['127.0.0.1:0', '127.0.0.1:65536', '127.0.0.1:99999'])(
    'rejects MANAGER_BIND %s: the port must be 1..65535',
    (value) => {
      expect(problemsOf({ MANAGER_BIND: value })).toEqual([expect.stringMatching(/^MANAGER_BIND .*1\.\.65535/)]);
    },
  );

  it('accepts an IPv6 bind address', () => {
    expect(loadManagerConfig({ MANAGER_BIND: '[::1]:9000' }).bind).toEqual({ host: '::1', port: 9000 });
  });

  it('returns a frozen object', () => {
    const config = loadManagerConfig({});
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.bind)).toBe(true);
  });

  it('does not show the database URL in the error', () => {
    const problems = problemsOf({ DATABASE_URL: 'mysql://user:hunter2@db' });
    expect(problems.join('\n')).not.toContain('hunter2');
  });
});
