import { describe, expect, it } from 'vitest';
import { AgentConfigError, loadAgentConfig } from './config.js';

const hostname = { hostname: 'host-a' };

function problemsOf(env: NodeJS.ProcessEnv): readonly string[] {
  try {
    loadAgentConfig(env, hostname);
  } catch (error) {
    if (error instanceof AgentConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('loadAgentConfig', () => {
  it('uses the documented defaults for an empty environment', () => {
    const config = loadAgentConfig({}, hostname);

    expect(config).toMatchObject({
      bind: { host: '127.0.0.1', port: 19090 },
      advertiseAddr: 'https://127.0.0.1:19090',
      name: 'host-a',
      managerBases: ['http://127.0.0.1:8080'],
      runDir: '/srv/fc',
      bridge: 'fcbr0',
      bridgeAddressCidr: null,
      firecrackerBin: 'firecracker',
      spawnMode: 'auto',
      imageRoot: '/srv/images',
      logLevel: 'info',
      heartbeatIntervalMs: null,
      joinToken: null,
      isTlsEnabled: true,
      metricsBind: null,
      egress: null,
      guard: { table: 'hearth' },
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('serves metrics in plain HTTP on a loopback address only, and not on the API port', () => {
    expect(loadAgentConfig({ AGENT_METRICS_BIND: '127.0.0.1:19091' }, hostname).metricsBind).toEqual({
      host: '127.0.0.1',
      port: 19091,
    });
    expect(problemsOf({ AGENT_METRICS_BIND: '0.0.0.0:19091' })).toEqual([
      expect.stringMatching(/^AGENT_METRICS_BIND .*loopback/),
    ]);
    expect(problemsOf({ AGENT_METRICS_BIND: '10.0.0.5:19091' })).toHaveLength(1);
    expect(problemsOf({ AGENT_METRICS_BIND: '127.0.0.1:19090' })).toEqual([expect.stringMatching(/port of AGENT_BIND/)]);
    expect(problemsOf({ AGENT_METRICS_BIND: 'nope' })).toEqual([expect.stringMatching(/^AGENT_METRICS_BIND /)]);
  });

  it('turns egress through NAT on with AGENT_EGRESS=nat, in the table hearth unless another is named', () => {
    expect(loadAgentConfig({ AGENT_EGRESS: 'nat' }, hostname).egress).toEqual({ table: 'hearth', uplink: null });
    expect(loadAgentConfig({ AGENT_EGRESS: 'nat', AGENT_UPLINK: 'eth1', AGENT_NFT_TABLE: 'hearth_b' }, hostname).egress).toEqual({
      table: 'hearth_b',
      uplink: 'eth1',
    });
  });

  it('guards every TAP by default, in the table hearth unless another is named, and only egress off may turn it off', () => {
    expect(loadAgentConfig({}, hostname).guard).toEqual({ table: 'hearth' });
    expect(loadAgentConfig({ AGENT_NFT_TABLE: 'hearth_b' }, hostname).guard).toEqual({ table: 'hearth_b' });
    expect(loadAgentConfig({ AGENT_GUARD: 'off' }, hostname).guard).toBeNull();
    expect(problemsOf({ AGENT_GUARD: 'off', AGENT_EGRESS: 'nat' })).toEqual([
      expect.stringMatching(/^AGENT_GUARD=off needs AGENT_EGRESS=off/),
    ]);
    expect(problemsOf({ AGENT_GUARD: 'no' })).toEqual([expect.stringMatching(/^AGENT_GUARD must be on or off/)]);
  });

  it('names every invalid egress setting', () => {
    expect(
      problemsOf({ AGENT_EGRESS: 'masquerade', AGENT_UPLINK: 'an-uplink-name-too-long', AGENT_NFT_TABLE: 'Hearth Table' }).map(
        (problem) => problem.split(' ')[0],
      ),
    ).toEqual(['AGENT_EGRESS', 'AGENT_UPLINK', 'AGENT_NFT_TABLE']);
  });

  it('reports every invalid variable at once', () => {
    const problems = problemsOf({
      AGENT_BIND: 'nope',
      FC_BRIDGE: 'a-bridge-name-too-long',
      FC_BRIDGE_ADDR: '300.0.0.1/24',
      AGENT_SPAWN_MODE: 'docker',
      AGENT_LOG_LEVEL: 'loud',
      AGENT_HEARTBEAT_MS: '5s',
      FC_RUN_DIR: 'relative',
    });

    expect(problems.map((problem) => problem.split(' ')[0])).toEqual([
      'AGENT_BIND',
      'FC_RUN_DIR',
      'FC_BRIDGE',
      'FC_BRIDGE_ADDR',
      'AGENT_SPAWN_MODE',
      'AGENT_LOG_LEVEL',
      'AGENT_HEARTBEAT_MS',
    ]);
  });

  it('refuses a run directory too long for the VM API socket paths', () => {
    expect(problemsOf({ FC_RUN_DIR: `/${'d'.repeat(80)}` })[0]).toMatch(/FC_RUN_DIR is too long/);
  });

  it('disables registration with AGENT_REGISTER=false or an empty MANAGER_BASE', () => {
    expect(loadAgentConfig({ AGENT_REGISTER: 'false' }, hostname).managerBases).toEqual([]);
    expect(loadAgentConfig({ MANAGER_BASE: '' }, hostname).managerBases).toEqual([]);
  });

  it('takes several Manager replicas in MANAGER_BASE, in order, and names a bad one', () => {
    expect(
      loadAgentConfig({ MANAGER_BASE: 'http://10.0.0.1:8080, http://10.0.0.2:8080,http://10.0.0.1:8080' }, hostname).managerBases,
    ).toEqual(['http://10.0.0.1:8080', 'http://10.0.0.2:8080']);
    expect(() => loadAgentConfig({ MANAGER_BASE: 'http://10.0.0.1:8080,ftp://x' }, hostname)).toThrow(
      /MANAGER_BASE.*"ftp:\/\/x"/,
    );
  });

  it('derives the advertised address from AGENT_BIND, over https when it registers with a Manager', () => {
    expect(loadAgentConfig({ AGENT_BIND: '0.0.0.0:9999' }, hostname).advertiseAddr).toBe('https://0.0.0.0:9999');
    expect(loadAgentConfig({ AGENT_BIND: '127.0.0.1:9999', AGENT_REGISTER: 'false' }, hostname).advertiseAddr).toBe(
      'http://127.0.0.1:9999',
    );
  });

  it('refuses to listen on a non-loopback address without TLS (no Manager to join)', () => {
    for (const bind of ['0.0.0.0:9999', '10.0.0.5:9999', '[::]:9999']) {
      expect(problemsOf({ AGENT_BIND: bind, AGENT_REGISTER: 'false' }).join('\n')).toMatch(/not a loopback address/);
    }
    for (const bind of ['127.0.0.1:9999', 'localhost:9999', '[::1]:9999']) {
      expect(problemsOf({ AGENT_BIND: bind, AGENT_REGISTER: 'false' })).toEqual([]);
    }
  });

  it('refuses a plain-http advertised address when Managers call it over mutual TLS', () => {
    expect(problemsOf({ AGENT_ADVERTISE_ADDR: 'http://10.0.0.5:19090' }).join('\n')).toMatch(/must be an https URL/);
  });

  it('takes a join token from AGENT_JOIN_TOKEN or names its file, not both', () => {
    const token = `hjt_${'a'.repeat(43)}`;
    expect(loadAgentConfig({ AGENT_JOIN_TOKEN: token }, hostname).joinToken).toEqual({ kind: 'value', token });
    expect(loadAgentConfig({ AGENT_JOIN_TOKEN_FILE: '/run/secrets/join' }, hostname).joinToken).toEqual({
      kind: 'file',
      path: '/run/secrets/join',
    });
    expect(problemsOf({ AGENT_JOIN_TOKEN: token, AGENT_JOIN_TOKEN_FILE: '/x' })).toHaveLength(1);
    expect(problemsOf({ AGENT_JOIN_TOKEN: 'hunter2' })).toHaveLength(1);
  });
});
