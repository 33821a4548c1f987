import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  createNetns,
  createTestDatabase,
  freePort,
  agentMain,
  repoRoot,
  startProcess,
  waitFor,
  type Netns,
  type StartedProcess,
  type TestDatabase,
} from '@hearth/testkit';
import { Pool } from 'undici';

export interface ApiResponse<T> {
  readonly status: number;
  readonly body: T;
}

export interface StackOptions {
  /** Node flags for every double process, applied by the FIRECRACKER_BIN wrapper. */
  readonly doubleNodeFlags: readonly string[];
  /** Extra environment for the Agent (and so for the doubles it spawns), e.g. FC_DOUBLE_BACKEND. */
  readonly agentEnv?: Readonly<Record<string, string>>;
  /** Address of the Agent's bridge inside the namespace, e.g. `172.30.0.1/24`. */
  readonly bridgeCidr?: string;
  /** The Manager's entry point; default this checkout's build. */
  readonly managerMain?: string | null;
}

/**
 * The whole installation over real processes, as e2e/support/stack.ts starts it: a fresh database
 * on the throwaway PostgreSQL, the Manager, and one Agent whose bridge, TAPs and VMMs live in a
 * network namespace made here. All traffic stays on loopback or inside the namespace.
 */
export interface BenchStack {
  readonly managerUrl: string;
  readonly netns: Netns;
  readonly bridge: string;
  readonly workDir: string;
  readonly imageRoot: string;
  readonly runDir: string;
  readonly database: TestDatabase;
  readonly manager: StartedProcess;
  readonly agent: StartedProcess;
  /** The FIRECRACKER_BIN wrapper (exec's node with the flags, so the pid stays the VMM's). */
  readonly doubleBin: string;
  api<T = unknown>(method: string, route: string, body?: unknown): Promise<ApiResponse<T>>;
  stop(): Promise<void>;
}

const doubleScript = path.join(repoRoot, 'tools/firecracker-double/bin/firecracker-double.cjs');

/** A shell wrapper that execs (never forks) the double under node with `flags`. */
export function writeDoubleWrapper(file: string, flags: readonly string[]): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const quoted = [process.execPath, ...flags, doubleScript].map((part) => `'${part.replace(/'/g, `'\\''`)}'`);
  writeFileSync(file, `#!/bin/sh\nexec ${quoted.join(' ')} "$@"\n`);
  chmodSync(file, 0o755);
}

export async function startBenchStack(options: StackOptions): Promise<BenchStack> {
  const cleanups: Array<() => Promise<unknown> | unknown> = [];
  let stopping: Promise<void> | undefined;
  const cleanup = (): Promise<void> => {
    stopping ??= (async () => {
      for (const fn of cleanups.reverse()) {
        try {
          await fn();
        } catch (error) {
          console.error('bench cleanup step failed:', error instanceof Error ? error.message : error);
        }
      }
    })();
    return stopping;
  };
  try {
    const workDir = mkdtempSync(path.join(os.tmpdir(), 'hearth-bench-'));
    cleanups.push(() => rmSync(workDir, { recursive: true, force: true }));
    const database = await createTestDatabase();
    cleanups.push(() => database.drop());
    const netns = await createNetns();
    cleanups.push(() => netns.destroy());

    const imageRoot = path.join(workDir, 'images');
    const runDir = path.join(workDir, 'fc');
    const bridge = 'hbr0';
    const doubleBin = path.join(workDir, 'bin/firecracker');
    writeDoubleWrapper(doubleBin, options.doubleNodeFlags);
    mkdirSync(imageRoot, { recursive: true });
    const [managerPort, agentPort] = [await freePort(), await freePort()];
    const managerUrl = `http://127.0.0.1:${managerPort}`;

    const manager = startProcess(['node', options.managerMain ?? path.join(repoRoot, 'apps/manager/dist/main.js')], {
      env: {
        DATABASE_URL: database.url,
        MANAGER_BIND: `127.0.0.1:${managerPort}`,
        MANAGER_IMAGE_ROOT: imageRoot,
        MANAGER_HEARTBEAT_MS: '1000',
        MANAGER_LOG_LEVEL: 'info',
        // The simulated guest runs no vCPUs: let one 2-core host take 500 one-vCPU VMs.
        MANAGER_CPU_OVERCOMMIT: '64',
        MANAGER_MEMORY_OVERCOMMIT: '16',
      },
      logFile: path.join(workDir, 'logs/manager.log'),
    });
    cleanups.push(() => manager.stop());
    const agent = startProcess(['node', agentMain], {
      env: {
        AGENT_BIND: `127.0.0.1:${agentPort}`,
        AGENT_NAME: `bench-${netns.name}`,
        AGENT_HEARTBEAT_MS: '1000',
        MANAGER_BASE: managerUrl,
        FC_RUN_DIR: runDir,
        FC_BRIDGE: bridge,
        FC_NETNS: netns.name,
        ...(options.bridgeCidr === undefined ? {} : { FC_BRIDGE_ADDR: options.bridgeCidr }),
        FIRECRACKER_BIN: doubleBin,
        AGENT_IMAGE_ROOT: imageRoot,
        AGENT_SPAWN_MODE: 'direct',
        AGENT_LOG_LEVEL: 'info',
        // 2 cores x the Manager's maximum overcommit (64) is 128 vCPUs: not enough for 500 VMs.
        AGENT_CPU_COUNT: '16',
        ...options.agentEnv,
      },
      logFile: path.join(workDir, 'logs/agent.log'),
    });
    cleanups.push(() => agent.stop());

    const pool = new Pool(managerUrl, { connections: 128, pipelining: 1, keepAliveTimeout: 60_000 });
    cleanups.push(() => pool.close());
    const api = async <T>(method: string, route: string, body?: unknown): Promise<ApiResponse<T>> => {
      const response = await pool.request({
        method: method as 'GET',
        path: route,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await response.body.text();
      const type = String(response.headers['content-type'] ?? '');
      return { status: response.statusCode, body: (text !== '' && type.includes('json') ? JSON.parse(text) : text) as T };
    };

    await waitFor(() => api('GET', '/readyz').then((r) => r.status === 200), {
      timeoutMs: 20_000,
      description: () => `the manager is ready\n${manager.output()}`,
    });
    await waitFor(
      async () =>
        (await api<{ items: Array<{ status: string }> }>('GET', '/v1/hosts')).body.items.some((h) => h.status === 'healthy'),
      { timeoutMs: 20_000, description: () => `the agent registers with the manager\n${agent.output()}` },
    );
    return { managerUrl, netns, bridge, workDir, imageRoot, runDir, database, manager, agent, doubleBin, api, stop: cleanup };
  } catch (error) {
    await cleanup();
    throw error;
  }
}
