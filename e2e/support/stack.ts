import { startSingleHostStack, type Netns, type StartedProcess, type TestClusterTrust } from '@hearth/testkit';
import { fetch, type RequestInit, type Response } from 'undici';
import { request, type ApiResponse } from './http.js';

export type { ApiResponse } from './http.js';

export interface StackOptions {
  /** Extra environment for the Firecracker double (e.g. the guest backend). */
  readonly doubleEnv?: Readonly<Record<string, string>>;
  /** Address given to the Agent's bridge inside the namespace, e.g. `172.30.0.1/24`. */
  readonly bridgeCidr?: string;
  readonly heartbeatMs?: number;
  /** Extra environment for the Manager (e.g. MANAGER_GUEST_REBOOT_MIN_UPTIME_MS). */
  readonly managerEnv?: Readonly<Record<string, string>>;
  /** Prepares the Agent's namespace before the Agent starts (e.g. its uplink). */
  readonly prepareNetns?: (netns: Netns) => Promise<void>;
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
  readonly agent: StartedProcess;
  /** The admin API token the Manager made at its first start (every scope, every project). */
  readonly adminToken: string;
  /**
   * A request to the Manager with the admin token; `headers` may name another token
   * (`authorization: 'Bearer …'`) or none (`authorization: ''`).
   */
  api<T = unknown>(method: string, route: string, body?: unknown, headers?: Record<string, string>): Promise<ApiResponse<T>>;
  /** Calls the Agent as the Manager does (mutual TLS with a Manager's certificate); `route` under its base URL. */
  agentFetch(route: string, init?: RequestInit): Promise<Response>;
  /** The cluster CA the test made (to forge certificates, as an attacker would). */
  readonly trust: TestClusterTrust;
  restartAgent(): Promise<void>;
  stop(): Promise<void>;
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const stack = await startSingleHostStack({
    name: 'e2e',
    managerEnv: {
      MANAGER_HEARTBEAT_MS: String(options.heartbeatMs ?? 500),
      // The Firecracker double needs no KVM: place VMs on hosts without it too.
      MANAGER_REQUIRE_KVM: 'off',
      ...options.managerEnv,
    },
    agentEnv: options.doubleEnv,
    bridgeCidr: options.bridgeCidr,
    prepareNetns: options.prepareNetns,
  });
  const { manager, agent } = stack;
  return {
    managerUrl: manager.url,
    agentUrl: agent.url,
    netns: stack.netns,
    bridge: stack.bridge,
    workDir: stack.workDir,
    imageRoot: stack.imageRoot,
    runDir: stack.runDir,
    manager: manager.process,
    get agent() {
      return agent.process;
    },
    adminToken: stack.adminToken,
    api: (method, route, body, headers) =>
      request(manager.url, method, route, body, { authorization: `Bearer ${stack.adminToken}`, ...headers }),
    agentFetch: (route, init = {}) => fetch(`${agent.url}${route}`, { ...init, dispatcher: stack.trust.managerDispatcher }),
    trust: stack.trust,
    async restartAgent() {
      await agent.stop();
      await agent.start();
    },
    stop: () => stack.cleanups.run(),
  };
}
