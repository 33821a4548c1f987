import { hostname as osHostname } from 'node:os';
import { isAbsolute, posix } from 'node:path';
import { parseHostPort, type HostPort } from '@hearth/contracts';
import { interfaceNameProblem } from './domain/interface-name.js';
import { unixSocketPathProblem } from './domain/unix-socket-path.js';
import { vmPaths } from './domain/vm-paths.js';
import type { VmId } from './domain/vm-id.js';

export type SpawnModeSetting = 'direct' | 'systemd-run' | 'auto';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface AgentConfig {
  readonly bind: HostPort;
  readonly advertiseAddr: string;
  readonly name: string;
  /**
   * The Manager replicas to register and heartbeat with, tried in order (MANAGER_BASE, comma
   * separated). Empty when registration is disabled (AGENT_REGISTER=false or an empty MANAGER_BASE).
   */
  readonly managerBases: readonly string[];
  readonly runDir: string;
  readonly bridge: string;
  readonly bridgeAddressCidr: string | null;
  /**
   * A named network namespace (`ip netns`) holding the bridge, the TAPs and the VMMs, as the
   * jailer's `--netns` does; null keeps them in the Agent's own namespace.
   */
  readonly netns: string | null;
  /**
   * Egress through NAT (AGENT_EGRESS=nat): guests masqueraded to the uplink (AGENT_UPLINK, else the
   * default route's device) by rules in Hearth's nftables table (AGENT_NFT_TABLE). Null: off.
   */
  readonly egress: { readonly table: string; readonly uplink: string | null } | null;
  /**
   * The guard of each guest's TAP (AGENT_GUARD, default on): anti-spoofing and isolation between
   * guests in the bridge-family table of the same name, whatever the egress mode. Null: off, which
   * only AGENT_EGRESS=off allows.
   */
  readonly guard: { readonly table: string } | null;
  readonly firecrackerBin: string;
  readonly spawnMode: SpawnModeSetting;
  readonly imageRoot: string;
  readonly logLevel: LogLevel;
  readonly heartbeatIntervalMs: number | null;
  /** Warm VMMs kept idle for VMs restored from snapshots (0: none; direct spawn mode only). */
  readonly vmmPoolSize: number;
  /** PATH, for resolving FIRECRACKER_BIN and systemd-run. */
  readonly searchPath: string;
  /** CPUs offered to the Manager for placement; null = the CPUs this process may run on. */
  readonly cpuCount: number | null;
  /**
   * The one-time join token (AGENT_JOIN_TOKEN, or the file AGENT_JOIN_TOKEN_FILE names): needed at
   * the first start only. A secret: never log it.
   */
  readonly joinToken:
    { readonly kind: 'value'; readonly token: string } | { readonly kind: 'file'; readonly path: string } | null;
  /**
   * The Agent serves HTTPS with client certificates: always when it registers with a Manager. Without
   * TLS it listens on loopback only.
   */
  readonly isTlsEnabled: boolean;
  /**
   * Where a plain-HTTP listener serves only `GET /metrics` (AGENT_METRICS_BIND), loopback only;
   * null: none (the metrics are still at `GET /agent/v1/metrics`, behind the API's mutual TLS).
   */
  readonly metricsBind: HostPort | null;
}

export class AgentConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid Agent configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    this.name = 'AgentConfigError';
  }
}

const logLevels: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const longestVmId = 'vm_01JABCDEFGHJKMNPQRSTVWXYZ0' as VmId;

function parseHttpUrl(value: string): string | undefined {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:' ? value.replace(/\/+$/, '') : undefined;
  } catch {
    return undefined;
  }
}

function parseBoolean(value: string): boolean | undefined {
  const lower = value.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(lower)) return true;
  if (['0', 'false', 'no', 'off'].includes(lower)) return false;
  return undefined;
}

function parseIpv4Cidr(value: string): boolean {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(value);
  if (match === null) return false;
  const octets = match.slice(1, 5).map(Number);
  return octets.every((octet) => octet <= 255) && Number(match[5]) <= 32;
}

/**
 * Reads every Agent variable (see apps/agent/.env.example), reports every problem at once and
 * returns a frozen config. The only reader of the environment.
 */
export function loadAgentConfig(
  env: NodeJS.ProcessEnv,
  defaults: { hostname: string } = { hostname: osHostname() },
): AgentConfig {
  const problems: string[] = [];
  const read = (name: string): string | undefined => {
    const value = env[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  };

  const bindText = read('AGENT_BIND') ?? '127.0.0.1:19090';
  const bind = parseHostPort(bindText);
  if (typeof bind === 'string') problems.push(`AGENT_BIND ${bind}`);

  const name = read('AGENT_NAME') ?? defaults.hostname;
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name) || name.length > 253) {
    problems.push(
      `AGENT_NAME must be 1..253 characters of [A-Za-z0-9._-] starting with a letter or digit, got ${JSON.stringify(name)}`,
    );
  }

  let isRegistering = true;
  const registerText = read('AGENT_REGISTER');
  if (registerText !== undefined) {
    const parsed = parseBoolean(registerText);
    if (parsed === undefined) problems.push(`AGENT_REGISTER must be true or false, got ${JSON.stringify(registerText)}`);
    else isRegistering = parsed;
  }
  const managerBases: string[] = [];
  const managerText = env['MANAGER_BASE'] === undefined ? 'http://127.0.0.1:8080' : env['MANAGER_BASE'].trim();
  for (const part of managerText === '' ? [] : managerText.split(',').map((text) => text.trim())) {
    const parsed = parseHttpUrl(part);
    if (parsed === undefined) {
      problems.push(`MANAGER_BASE must be http(s) URLs separated by commas, or empty; ${JSON.stringify(part)} is not one`);
    } else if (!managerBases.includes(parsed)) managerBases.push(parsed);
  }
  if (!isRegistering) managerBases.length = 0;
  const isTlsEnabled = managerBases.length > 0;

  const advertiseText = read('AGENT_ADVERTISE_ADDR') ?? `${isTlsEnabled ? 'https' : 'http'}://${bindText}`;
  const advertiseAddr = parseHttpUrl(advertiseText);
  if (advertiseAddr === undefined)
    problems.push(`AGENT_ADVERTISE_ADDR must be an http(s) URL, got ${JSON.stringify(advertiseText)}`);
  else if (isTlsEnabled && !advertiseAddr.startsWith('https://'))
    problems.push(
      `AGENT_ADVERTISE_ADDR must be an https URL: Managers call Agents over mutual TLS only, got ${JSON.stringify(advertiseText)}`,
    );
  if (!isTlsEnabled && typeof bind !== 'string' && !isLoopbackHost(bind.host)) {
    problems.push(
      `AGENT_BIND ${bindText} is not a loopback address: an Agent listens elsewhere only with TLS, which it has once it registers with a Manager (MANAGER_BASE, AGENT_JOIN_TOKEN)`,
    );
  }

  const metricsBindText = read('AGENT_METRICS_BIND');
  let metricsBind: HostPort | null = null;
  if (metricsBindText !== undefined) {
    const parsed = parseHostPort(metricsBindText);
    if (typeof parsed === 'string') problems.push(`AGENT_METRICS_BIND ${parsed}`);
    else if (!isLoopbackHost(parsed.host)) {
      problems.push(
        `AGENT_METRICS_BIND ${metricsBindText} is not a loopback address: the metrics listener has no TLS and no authentication, so it serves this machine only`,
      );
    } else if (typeof bind !== 'string' && parsed.port === bind.port && parsed.port !== 0) {
      problems.push(`AGENT_METRICS_BIND ${metricsBindText} takes the port of AGENT_BIND`);
    } else metricsBind = parsed;
  }

  const joinTokenText = read('AGENT_JOIN_TOKEN');
  const joinTokenFile = read('AGENT_JOIN_TOKEN_FILE');
  let joinToken: AgentConfig['joinToken'] = null;
  if (joinTokenText !== undefined && joinTokenFile !== undefined) {
    problems.push('AGENT_JOIN_TOKEN and AGENT_JOIN_TOKEN_FILE cannot both be set');
  } else if (joinTokenText !== undefined) {
    if (!/^hjt_[A-Za-z0-9_-]{43}$/.test(joinTokenText))
      problems.push('AGENT_JOIN_TOKEN must be a join token (hjt_ and 43 characters)');
    else joinToken = { kind: 'value', token: joinTokenText };
  } else if (joinTokenFile !== undefined) {
    if (!isAbsolute(joinTokenFile))
      problems.push(`AGENT_JOIN_TOKEN_FILE must be an absolute path, got ${JSON.stringify(joinTokenFile)}`);
    else joinToken = { kind: 'file', path: joinTokenFile };
  }

  const runDir = read('FC_RUN_DIR') ?? '/srv/fc';
  if (!isAbsolute(runDir)) problems.push(`FC_RUN_DIR must be an absolute path, got ${JSON.stringify(runDir)}`);
  else {
    const socketProblem = unixSocketPathProblem(vmPaths(posix.normalize(runDir), longestVmId).socket);
    if (socketProblem !== undefined) problems.push(`FC_RUN_DIR is too long for VM API sockets: ${socketProblem}`);
  }

  const bridge = read('FC_BRIDGE') ?? 'fcbr0';
  const bridgeProblem = interfaceNameProblem(bridge);
  if (bridgeProblem !== undefined) problems.push(`FC_BRIDGE ${bridgeProblem}`);

  const bridgeAddressCidr = read('FC_BRIDGE_ADDR') ?? null;
  if (bridgeAddressCidr !== null && !parseIpv4Cidr(bridgeAddressCidr)) {
    problems.push(`FC_BRIDGE_ADDR must be an IPv4 CIDR such as 172.30.0.1/24, got ${JSON.stringify(bridgeAddressCidr)}`);
  }

  const netns = read('FC_NETNS') ?? null;
  if (netns !== null && !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(netns)) {
    problems.push(`FC_NETNS must be a network namespace name (letters, digits, . _ -), got ${JSON.stringify(netns)}`);
  }

  const egressMode = read('AGENT_EGRESS') ?? 'off';
  if (!['off', 'nat'].includes(egressMode)) problems.push(`AGENT_EGRESS must be off or nat, got ${JSON.stringify(egressMode)}`);
  const uplink = read('AGENT_UPLINK') ?? null;
  const uplinkProblem = uplink === null ? undefined : interfaceNameProblem(uplink);
  if (uplinkProblem !== undefined) problems.push(`AGENT_UPLINK ${uplinkProblem}`);
  const nftTable = read('AGENT_NFT_TABLE') ?? 'hearth';
  if (!/^[a-z][a-z0-9_]{0,31}$/.test(nftTable))
    problems.push(`AGENT_NFT_TABLE must be a lower-case name (letters, digits, _; at most 32), got ${JSON.stringify(nftTable)}`);

  const guardMode = read('AGENT_GUARD') ?? 'on';
  if (!['on', 'off'].includes(guardMode)) problems.push(`AGENT_GUARD must be on or off, got ${JSON.stringify(guardMode)}`);
  else if (guardMode === 'off' && egressMode === 'nat')
    problems.push('AGENT_GUARD=off needs AGENT_EGRESS=off: egress through NAT writes the guard in the same transaction');

  const firecrackerBin = read('FIRECRACKER_BIN') ?? 'firecracker';

  const spawnModeText = read('AGENT_SPAWN_MODE') ?? 'auto';
  if (!['direct', 'systemd-run', 'auto'].includes(spawnModeText)) {
    problems.push(`AGENT_SPAWN_MODE must be direct, systemd-run or auto, got ${JSON.stringify(spawnModeText)}`);
  }

  const imageRoot = read('AGENT_IMAGE_ROOT') ?? '/srv/images';
  if (!isAbsolute(imageRoot)) problems.push(`AGENT_IMAGE_ROOT must be an absolute path, got ${JSON.stringify(imageRoot)}`);

  const logLevelText = read('AGENT_LOG_LEVEL') ?? 'info';
  if (!logLevels.includes(logLevelText as LogLevel))
    problems.push(`AGENT_LOG_LEVEL must be one of ${logLevels.join(', ')}, got ${JSON.stringify(logLevelText)}`);

  let heartbeatIntervalMs: number | null = null;
  const heartbeatText = read('AGENT_HEARTBEAT_MS');
  if (heartbeatText !== undefined) {
    const parsed = Number(heartbeatText);
    if (!/^\d+$/.test(heartbeatText) || parsed < 100 || parsed > 3_600_000)
      problems.push(`AGENT_HEARTBEAT_MS must be an integer 100..3600000, got ${JSON.stringify(heartbeatText)}`);
    else heartbeatIntervalMs = parsed;
  }

  let vmmPoolSize = 0;
  const vmmPoolText = read('AGENT_VMM_POOL_SIZE');
  if (vmmPoolText !== undefined) {
    const parsed = Number(vmmPoolText);
    if (!/^\d+$/.test(vmmPoolText) || parsed > 256)
      problems.push(`AGENT_VMM_POOL_SIZE must be an integer 0..256, got ${JSON.stringify(vmmPoolText)}`);
    else vmmPoolSize = parsed;
  }

  let cpuCount: number | null = null;
  const cpuCountText = read('AGENT_CPU_COUNT');
  if (cpuCountText !== undefined) {
    const parsed = Number(cpuCountText);
    if (!/^\d+$/.test(cpuCountText) || parsed < 1 || parsed > 65_536)
      problems.push(`AGENT_CPU_COUNT must be an integer 1..65536, got ${JSON.stringify(cpuCountText)}`);
    else cpuCount = parsed;
  }

  if (problems.length > 0) throw new AgentConfigError(problems);
  return Object.freeze({
    bind: Object.freeze(bind as HostPort),
    advertiseAddr: advertiseAddr as string,
    name,
    managerBases,
    runDir: posix.normalize(runDir),
    bridge,
    bridgeAddressCidr,
    netns,
    egress: egressMode === 'nat' ? Object.freeze({ table: nftTable, uplink }) : null,
    guard: guardMode === 'on' ? Object.freeze({ table: nftTable }) : null,
    firecrackerBin,
    spawnMode: spawnModeText as SpawnModeSetting,
    imageRoot: posix.normalize(imageRoot),
    logLevel: logLevelText as LogLevel,
    heartbeatIntervalMs,
    vmmPoolSize,
    searchPath: read('PATH') ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    cpuCount,
    joinToken: joinToken === null ? null : Object.freeze(joinToken),
    isTlsEnabled,
    metricsBind,
  });
}

/** 127.0.0.0/8, ::1 or localhost: reachable from this machine only. */
function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
