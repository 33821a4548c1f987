import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  createNetns,
  createTestDatabase,
  firecrackerDoubleBin,
  freePort,
  agentMain,
  repoRoot,
  startProcess,
  waitFor,
  type Netns,
  type StartedProcess,
  type TestDatabase,
} from '@hearth/testkit';
import { request, type ApiResponse } from './http.js';

export type { ApiResponse } from './http.js';

export interface StackOptions {
  /** Extra environment for the Firecracker double (e.g. the guest backend). */
  readonly doubleEnv?: Readonly<Record<string, string>>;
  /** Address given to the Agent's bridge inside the namespace, e.g. `172.30.0.1/24`. */
  readonly bridgeCidr?: string;
  readonly heartbeatMs?: number;
}

/**
 * A whole Hearth installation over real processes: a fresh database on the throwaway PostgreSQL,
 * the Manager, and one Agent whose bridge, TAPs and VMMs live in a network namespace made here.
 * Everything listens on loopback; guests are reachable only inside the namespace.
 */
export interface Stack {
  readonly managerUrl: string;
  readonly agentUrl: string;
  readonly netns: Netns;
  readonly bridge: string;
  readonly workDir: string;
  readonly imageRoot: string;
  readonly runDir: string;
  readonly manager: StartedProcess;
  agent: StartedProcess;
  api<T = unknown>(method: string, route: string, body?: unknown, headers?: Record<string, string>): Promise<ApiResponse<T>>;
  restartAgent(): Promise<void>;
  stop(): Promise<void>;
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const cleanups: Array<() => Promise<void> | void> = [];
  const cleanup = async (): Promise<void> => {
    for (const fn of cleanups.reverse()) {
      try {
        await fn();
      } catch (error) {
        console.error('stack cleanup step failed', error);
      }
    }
  };
  try {
    const workDir = mkdtempSync(path.join(os.tmpdir(), 'hearth-e2e-'));
    cleanups.push(() => rmSync(workDir, { recursive: true, force: true }));
    const database: TestDatabase = await createTestDatabase();
    cleanups.push(() => database.drop());
    const netns = await createNetns();
    cleanups.push(() => netns.destroy());

    const imageRoot = path.join(workDir, 'images');
    const runDir = path.join(workDir, 'fc');
    const bridge = 'hbr0';
    const heartbeatMs = options.heartbeatMs ?? 500;
    const managerPort = await freePort();
    const agentPort = await freePort();
    const managerUrl = `http://127.0.0.1:${managerPort}`;
    const agentUrl = `http://127.0.0.1:${agentPort}`;

    const manager = startProcess(['node', path.join(repoRoot, 'apps/manager/dist/main.js')], {
      env: {
        DATABASE_URL: database.url,
        MANAGER_BIND: `127.0.0.1:${managerPort}`,
        MANAGER_IMAGE_ROOT: imageRoot,
        MANAGER_HEARTBEAT_MS: String(heartbeatMs),
        // The Firecracker double needs no KVM: place VMs on hosts without it too.
        MANAGER_REQUIRE_KVM: 'off',
        MANAGER_LOG_LEVEL: 'info',
      },
      logFile: path.join(workDir, 'logs/manager.log'),
    });
    cleanups.push(async () => {
      await manager.stop();
    });

    const agentEnv = {
      AGENT_BIND: `127.0.0.1:${agentPort}`,
      AGENT_NAME: `e2e-${netns.name}`,
      MANAGER_BASE: managerUrl,
      FC_RUN_DIR: runDir,
      FC_BRIDGE: bridge,
      FC_NETNS: netns.name,
      ...(options.bridgeCidr === undefined ? {} : { FC_BRIDGE_ADDR: options.bridgeCidr }),
      FIRECRACKER_BIN: firecrackerDoubleBin,
      AGENT_IMAGE_ROOT: imageRoot,
      AGENT_SPAWN_MODE: 'direct',
      AGENT_LOG_LEVEL: 'info',
      ...options.doubleEnv,
    };
    const startAgent = (): StartedProcess =>
      startProcess(['node', agentMain], {
        env: agentEnv,
        logFile: path.join(workDir, 'logs/agent.log'),
      });

    const stack: Stack = {
      managerUrl,
      agentUrl,
      netns,
      bridge,
      workDir,
      imageRoot,
      runDir,
      manager,
      agent: startAgent(),
      api: (method, route, body, headers) => request(managerUrl, method, route, body, headers),
      async restartAgent() {
        await stack.agent.stop();
        stack.agent = startAgent();
        await waitFor(() => request(agentUrl, 'GET', '/agent/v1/health').then((r) => r.status === 200), {
          description: 'the restarted agent answers /health',
        });
      },
      stop: cleanup,
    };
    cleanups.push(async () => {
      await stack.agent.stop();
    });

    await waitFor(() => request(managerUrl, 'GET', '/readyz').then((r) => r.status === 200), {
      timeoutMs: 20_000,
      description: () => `the manager is ready\n${manager.output()}`,
    });
    await waitFor(
      async () => {
        const hosts = await request<{ items: Array<{ status: string }> }>(managerUrl, 'GET', '/v1/hosts');
        return hosts.body.items.some((h) => h.status === 'healthy');
      },
      { timeoutMs: 20_000, description: 'the agent registers with the manager' },
    );
    return stack;
  } catch (error) {
    await cleanup();
    throw error;
  }
}
