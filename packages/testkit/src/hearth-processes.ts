import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { agentMain, firecrackerDoubleBin, managerMain, managerNodeFlags, nodeFlagsOfBuild } from './environment.js';
import { freePort } from './free-port.js';
import type { Netns } from './netns.js';
import { startProcess, type StartedProcess } from './start-process.js';
import { waitFor } from './wait-for.js';
import { request as undiciRequest, type Dispatcher } from 'undici';
import type { TestClusterTrust } from './test-cluster-trust.js';

type Env = Readonly<Record<string, string | undefined>>;

/**
 * A Manager or an Agent run as a real process from its build (spawned by path: testkit never
 * imports app code), on a loopback port of its own, and restartable: crash tests kill it and
 * start it again, with other environment (e.g. HEARTH_FAILPOINTS). Nothing runs until `start()`
 * or `launch()`.
 */
export interface HearthProcess {
  /** `http://127.0.0.1:<port>` (a Manager), `https://127.0.0.1:<port>` (an Agent). */
  readonly url: string;
  /** Where every process it starts writes its output (appended). */
  readonly logFile: string;
  /** The process started last; throws before the first start. */
  readonly process: StartedProcess;
  /** Starts it (again) with `env` over its own environment (a key set to `undefined` is removed); does not wait. */
  launch(env?: Env): StartedProcess;
  /** Waits until it answers its readiness probe (Manager: GET /readyz, Agent: GET /agent/v1/health). */
  waitUntilReady(): Promise<void>;
  /** `launch(env)`, then `waitUntilReady()`. */
  start(env?: Env): Promise<void>;
  /** SIGKILL, as a crash (what it started, e.g. VMMs, keeps running); resolves once it has exited. */
  kill(): Promise<void>;
  /** Stops every process it started that still runs (SIGTERM, then SIGKILL; their process trees too). Idempotent. */
  stop(): Promise<void>;
}

/** A Manager process, with what its data directory holds. */
export interface ManagerProcess extends HearthProcess {
  /** MANAGER_DATA_DIR: kept across restarts. */
  readonly dataDir: string;
  /**
   * The admin API token this Manager made at its first start on an empty database (read from
   * `<dataDir>/admin-token`). Of several Managers on one database only the first has one.
   */
  adminToken(): Promise<string>;
}

export interface ManagerProcessOptions {
  readonly databaseUrl: string;
  readonly imageRoot: string;
  /** Appended to; a restart writes to the same file. */
  readonly logFile: string;
  /** More environment, over DATABASE_URL, MANAGER_BIND, MANAGER_DATA_DIR, MANAGER_IMAGE_ROOT and MANAGER_LOG_LEVEL=info. */
  readonly env?: Env;
  /** MANAGER_DATA_DIR; default `manager-<port>-data` beside the log file. */
  readonly dataDir?: string;
  /** The entry point; default {@link managerMain}, this checkout's build. */
  readonly main?: string;
  /** What `node` is given before `main`; default that build's {@link managerNodeFlags} (pass them when `main` wraps a build). */
  readonly nodeFlags?: readonly string[];
  /** Names it in timeout messages; default `the manager`. */
  readonly name?: string;
  /** How long a start may take to answer /readyz; default 20 s (PGlite's first start creates its database). */
  readonly readyTimeoutMs?: number;
}

export interface AgentProcessOptions {
  /** AGENT_NAME, the host's name at the Manager. */
  readonly name: string;
  /** MANAGER_BASE: the Manager it registers and heartbeats with (several replicas: comma separated). */
  readonly managerUrl: string;
  /** Where its bridge, TAPs and VMMs live. */
  readonly netns: Netns;
  readonly bridge: string;
  /** FC_BRIDGE_ADDR, the bridge's address in the namespace (e.g. `172.30.0.1/24`); default none. */
  readonly bridgeCidr?: string;
  /** FC_RUN_DIR: VM directories, sockets, its state. */
  readonly runDir: string;
  readonly imageRoot: string;
  /** FIRECRACKER_BIN; default the Firecracker double. */
  readonly firecrackerBin?: string;
  /** Appended to; a restart writes to the same file. */
  readonly logFile: string;
  /** More environment, over the above, AGENT_SPAWN_MODE=direct and AGENT_LOG_LEVEL=info. */
  readonly env?: Env;
  /**
   * The cluster's CA: the Agent serves HTTPS to Manager certificates only, and its readiness probe
   * calls it as a Manager. Its first start needs AGENT_JOIN_TOKEN (see `createJoinToken`). Absent:
   * an Agent that registers with no Manager (AGENT_REGISTER=false), on plain HTTP.
   */
  readonly trust?: TestClusterTrust;
  /** The entry point `node` runs; default this checkout's bundled Agent. `node` is given the flags its build lists ({@link nodeFlagsOfBuild}). */
  readonly main?: string;
}

/** How long a process (or the hosts) may take to come up: a Manager migrates its database first. */
const readyTimeoutMs = 20_000;
const pollIntervalMs = 25;

/** A Manager on a free port; nothing runs until `start()` or `launch()`. */
export async function createManagerProcess(options: ManagerProcessOptions): Promise<ManagerProcess> {
  const port = await freePort();
  const dataDir = options.dataDir ?? path.join(path.dirname(options.logFile), `manager-${port}-data`);
  const manager = hearthProcess({
    main: options.main ?? managerMain,
    nodeFlags: options.nodeFlags ?? managerNodeFlags(options.main ?? managerMain),
    url: `http://127.0.0.1:${port}`,
    readinessRoute: '/readyz',
    name: options.name ?? 'the manager',
    readyTimeoutMs: options.readyTimeoutMs ?? readyTimeoutMs,
    logFile: options.logFile,
    env: {
      DATABASE_URL: options.databaseUrl,
      MANAGER_BIND: `127.0.0.1:${port}`,
      MANAGER_DATA_DIR: dataDir,
      MANAGER_IMAGE_ROOT: options.imageRoot,
      MANAGER_LOG_LEVEL: 'info',
      ...options.env,
    },
  });
  return Object.assign(manager, {
    dataDir,
    async adminToken() {
      return (await readFile(path.join(dataDir, 'admin-token'), 'utf8')).trim();
    },
  });
}

/** An Agent on a free port, its VMs in `netns`; nothing runs until `start()` or `launch()`. */
export async function createAgentProcess(options: AgentProcessOptions): Promise<HearthProcess> {
  const port = await freePort();
  return hearthProcess({
    main: options.main ?? agentMain,
    nodeFlags: nodeFlagsOfBuild(options.main ?? agentMain),
    url: `${options.trust === undefined ? 'http' : 'https'}://127.0.0.1:${port}`,
    ...(options.trust === undefined ? {} : { dispatcher: options.trust.managerDispatcher }),
    readinessRoute: '/agent/v1/health',
    name: `agent ${options.name}`,
    readyTimeoutMs,
    logFile: options.logFile,
    env: {
      AGENT_BIND: `127.0.0.1:${port}`,
      AGENT_NAME: options.name,
      MANAGER_BASE: options.managerUrl,
      FC_RUN_DIR: options.runDir,
      FC_BRIDGE: options.bridge,
      FC_NETNS: options.netns.name,
      ...(options.bridgeCidr === undefined ? {} : { FC_BRIDGE_ADDR: options.bridgeCidr }),
      FIRECRACKER_BIN: options.firecrackerBin ?? firecrackerDoubleBin,
      AGENT_IMAGE_ROOT: options.imageRoot,
      AGENT_SPAWN_MODE: 'direct',
      AGENT_LOG_LEVEL: 'info',
      ...options.env,
    },
  });
}

/**
 * Waits until the Manager at `managerUrl` lists one healthy host per Agent in `agents` (they have
 * registered, or their heartbeats flow again after a restart).
 */
export async function waitForHealthyHosts(managerUrl: string, agents: readonly HearthProcess[], token: string): Promise<void> {
  // Healthy, and heard from since this call: after a Manager restart the stored status still says
  // healthy while the last heartbeat may be too old to place a VM on (`heartbeat_stale`).
  const since = Date.now();
  await waitFor(
    async () => {
      const hosts = JSON.parse((await get(`${managerUrl}/v1/hosts`, { token })).text) as {
        items: Array<{ status: string; lastHeartbeatAt: string }>;
      };
      const fresh = hosts.items.filter((host) => host.status === 'healthy' && Date.parse(host.lastHeartbeatAt) >= since);
      return fresh.length === agents.length;
    },
    {
      timeoutMs: readyTimeoutMs,
      intervalMs: pollIntervalMs,
      description: () =>
        `every agent registers with the manager (${agents.length} healthy hosts)\n${agents.map((agent) => agent.process.output()).join('\n')}`,
    },
  );
}

interface HearthProcessSpec {
  readonly main: string;
  /** Given to `node` before `main`. */
  readonly nodeFlags?: readonly string[];
  readonly url: string;
  readonly readinessRoute: string;
  readonly name: string;
  readonly logFile: string;
  readonly env: Env;
  readonly readyTimeoutMs: number;
  /** How the readiness probe connects (an Agent: mutual TLS as a Manager). */
  readonly dispatcher?: Dispatcher;
}

function hearthProcess(spec: HearthProcessSpec): HearthProcess {
  let current: StartedProcess | undefined;
  // Every process launched and not yet exited, not only the last: a test that timed out keeps
  // running in the background and may start one more, which `stop()` must still end.
  const running = new Set<StartedProcess>();
  const hearth: HearthProcess = {
    url: spec.url,
    logFile: spec.logFile,
    get process() {
      if (current === undefined) throw new Error(`${spec.name} has not been started`);
      return current;
    },
    launch(env = {}) {
      const started = startProcess(['node', ...(spec.nodeFlags ?? []), spec.main], {
        env: { ...spec.env, ...env },
        logFile: spec.logFile,
      });
      running.add(started);
      const forget = (): boolean => running.delete(started);
      started.exited.then(forget, forget);
      current = started;
      return started;
    },
    async waitUntilReady() {
      await waitFor(
        async () => (await get(`${spec.url}${spec.readinessRoute}`, { dispatcher: spec.dispatcher })).status === 200,
        {
          timeoutMs: spec.readyTimeoutMs,
          intervalMs: pollIntervalMs,
          description: () => `${spec.name} answers ${spec.readinessRoute}\n${current?.output() ?? ''}`,
        },
      );
    },
    async start(env) {
      hearth.launch(env);
      await hearth.waitUntilReady();
    },
    async kill() {
      hearth.process.child.kill('SIGKILL');
      await hearth.process.exited;
    },
    async stop() {
      await Promise.all([...running].map((started) => started.stop()));
    },
  };
  return hearth;
}

/** GET on loopback, the body read (so the connection is free again); a hung server fails the attempt after 5 s. */
async function get(
  url: string,
  options: { readonly token?: string | undefined; readonly dispatcher?: Dispatcher | undefined } = {},
): Promise<{ status: number; text: string }> {
  const headers: Record<string, string> = options.token === undefined ? {} : { authorization: `Bearer ${options.token}` };
  const response = await undiciRequest(url, {
    headers,
    signal: AbortSignal.timeout(5_000),
    ...(options.dispatcher === undefined ? {} : { dispatcher: options.dispatcher }),
  });
  return { status: response.statusCode, text: await response.body.text() };
}
