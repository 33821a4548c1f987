import type { CpuPids } from './cpu.js';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot, startSingleHostStack, type Netns, type StartedProcess, type TestDatabase } from '@hearth/testkit';
import { Pool } from 'undici';

export interface ApiResponse<T> {
  readonly status: number;
  readonly body: T;
  /** `performance.now()` when the body's last byte had been read, before it was parsed. */
  readonly receivedAt: number;
}

/** A request to a Manager's API. */
export type ManagerApi = <T = unknown>(method: string, route: string, body?: unknown) => Promise<ApiResponse<T>>;

/**
 * Requests to the Manager behind `pool` with the API token `token()` gives: a JSON body is sent as
 * JSON and a JSON answer parsed, after its last byte's time is taken (`receivedAt`).
 */
export function managerApi(pool: Pool, token: () => string, timeouts: { readonly ms?: number } = {}): ManagerApi {
  return async <T>(method: string, route: string, body?: unknown): Promise<ApiResponse<T>> => {
    const response = await pool.request({
      method: method as 'GET',
      path: route,
      headers: {
        authorization: `Bearer ${token()}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      ...(timeouts.ms === undefined ? {} : { headersTimeout: timeouts.ms, bodyTimeout: timeouts.ms }),
    });
    const text = await response.body.text();
    const receivedAt = performance.now();
    const type = String(response.headers['content-type'] ?? '');
    return {
      status: response.statusCode,
      body: (text !== '' && type.includes('json') ? JSON.parse(text) : text) as T,
      receivedAt,
    };
  };
}

export interface StackOptions {
  /** Node flags for every double process, applied by the FIRECRACKER_BIN wrapper. */
  readonly doubleNodeFlags: readonly string[];
  /** Extra environment for the Agent (and so for the doubles it spawns), e.g. FC_DOUBLE_BACKEND. */
  readonly agentEnv?: Readonly<Record<string, string>>;
  /** Extra environment for the Manager. */
  readonly managerEnv?: Readonly<Record<string, string>>;
  /** Address of the Agent's bridge inside the namespace, e.g. `172.30.0.1/24`. */
  readonly bridgeCidr?: string;
  /** The Manager's entry point; default this checkout's build. */
  readonly managerMain?: string | null;
  /** The Manager's node flags; default those of the build `managerMain` is. */
  readonly managerNodeFlags?: readonly string[] | null;
  /** The Agent's entry point; default this checkout's build. */
  readonly agentMain?: string | null;
  /** Readies the Agent's namespace before it starts (see startSingleHostStack). */
  readonly prepareNetns?: (netns: Netns) => Promise<void>;
}

/**
 * The whole installation over real processes, as e2e/support/stack.ts starts it (both are a
 * SingleHostStack of @hearth/testkit): a fresh database on the throwaway PostgreSQL, the Manager,
 * and one Agent whose bridge, TAPs and VMMs live in a network namespace made here. All traffic
 * stays on loopback or inside the namespace.
 */
export interface BenchStack {
  readonly managerUrl: string;
  /** The admin API token the Manager made at its first start; `api` sends it. */
  readonly adminToken: string;
  readonly netns: Netns;
  readonly bridge: string;
  readonly workDir: string;
  readonly imageRoot: string;
  readonly runDir: string;
  readonly database: TestDatabase;
  readonly manager: StartedProcess;
  readonly agent: StartedProcess;
  /** Where the Agent's output goes (its access log among it). */
  readonly agentLogFile: string;
  /** The FIRECRACKER_BIN wrapper (exec's node with the flags, so the pid stays the VMM's). */
  readonly doubleBin: string;
  readonly api: ManagerApi;
  stop(): Promise<void>;
}

const doubleScript = path.join(repoRoot, 'tools/firecracker-double/bin/firecracker-double.cjs');

/**
 * Environment variables the wrapper removes before the double starts: a Firecracker makes no TLS
 * connection, but Node reads and parses the certificates `NODE_EXTRA_CA_CERTS` names at every
 * start, before any of the double's code runs (about 50 ms of CPU a start on the bench's machine,
 * a third of the double's), where ten clones start ten doubles at once.
 */
export const doubleUnsetEnv: readonly string[] = ['NODE_EXTRA_CA_CERTS'];

/**
 * A shell wrapper that execs (never forks) `script` (default the double) under node with `flags`,
 * without the variables of `doubleUnsetEnv`.
 */
export function writeDoubleWrapper(file: string, flags: readonly string[], script: string = doubleScript): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const quoted = [process.execPath, ...flags, script].map((part) => `'${part.replace(/'/g, `'\\''`)}'`);
  writeFileSync(file, `#!/bin/sh\nunset ${doubleUnsetEnv.join(' ')}\nexec ${quoted.join(' ')} "$@"\n`);
  chmodSync(file, 0o755);
}

/** The processes whose CPU the bench counts as the control plane's: the stack's Manager, its Agent and its PostgreSQL server. */
export function cpuPidsOf(stack: BenchStack): CpuPids {
  return {
    manager: stack.manager.child.pid,
    agent: stack.agent.child.pid,
    postgresPort: Number(new URL(stack.database.url).port) || undefined,
  };
}

export async function startBenchStack(options: StackOptions): Promise<BenchStack> {
  let doubleBin = '';
  const stack = await startSingleHostStack({
    name: 'bench',
    managerMain: options.managerMain ?? undefined,
    managerNodeFlags: options.managerNodeFlags ?? undefined,
    agentMain: options.agentMain ?? undefined,
    managerEnv: {
      MANAGER_HEARTBEAT_MS: '1000',
      // The double needs no KVM: the bench runs wherever the tests run, /dev/kvm or not.
      MANAGER_REQUIRE_KVM: 'off',
      // The simulated guest runs no vCPUs: let one 2-core host take 500 one-vCPU VMs.
      MANAGER_CPU_OVERCOMMIT: '64',
      MANAGER_MEMORY_OVERCOMMIT: '16',
      // The bench measures the Manager, not its rate limit (thousands of list requests a minute).
      MANAGER_RATE_LIMIT_PER_MINUTE: '1000000000',
      ...options.managerEnv,
    },
    agentEnv: {
      AGENT_HEARTBEAT_MS: '1000',
      // 2 cores x the Manager's maximum overcommit (64) is 128 vCPUs: not enough for 500 VMs.
      AGENT_CPU_COUNT: '16',
      ...options.agentEnv,
    },
    bridgeCidr: options.bridgeCidr,
    prepareNetns: options.prepareNetns,
    firecrackerBin: (workDir) => {
      doubleBin = path.join(workDir, 'bin/firecracker');
      writeDoubleWrapper(doubleBin, options.doubleNodeFlags);
      return doubleBin;
    },
  });
  mkdirSync(stack.imageRoot, { recursive: true });
  const pool = new Pool(stack.manager.url, { connections: 128, pipelining: 1, keepAliveTimeout: 60_000 });
  stack.cleanups.push(() => pool.close());
  const api = managerApi(pool, () => stack.adminToken);
  return {
    managerUrl: stack.manager.url,
    adminToken: stack.adminToken,
    netns: stack.netns,
    bridge: stack.bridge,
    workDir: stack.workDir,
    imageRoot: stack.imageRoot,
    runDir: stack.runDir,
    database: stack.database,
    manager: stack.manager.process,
    agent: stack.agent.process,
    agentLogFile: stack.agent.logFile,
    doubleBin,
    api,
    stop: () => stack.cleanups.run(),
  };
}
