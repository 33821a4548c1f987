import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createCleanupStack, type CleanupStack } from './cleanup-stack.js';
import {
  createAgentProcess,
  createManagerProcess,
  waitForHealthyHosts,
  type HearthProcess,
  type ManagerProcess,
} from './hearth-processes.js';
import { createNetns, type Netns } from './netns.js';
import { createTestDatabase, type TestDatabase } from './test-database.js';
import { createJoinToken, createTestClusterTrust, type TestClusterTrust } from './test-cluster-trust.js';

type Env = Readonly<Record<string, string | undefined>>;

export interface SingleHostStackOptions {
  /** Names the work directory (`hearth-<name>-…`), the Agent's host (`<name>-<netns>`) and failed cleanup steps in the log. */
  readonly name: string;
  /** More environment for the Manager (see {@link createManagerProcess}). */
  readonly managerEnv?: Env;
  /** More environment for the Agent, and so for the VMMs it spawns (see {@link createAgentProcess}). */
  readonly agentEnv?: Env;
  /** The Manager's entry point; default this checkout's build. */
  readonly managerMain?: string;
  /** The node flags the Manager is started with; default those of the build `managerMain` is (pass them when it wraps one). */
  readonly managerNodeFlags?: readonly string[];
  /** The Agent's entry point; default this checkout's build. */
  readonly agentMain?: string;
  /** Address of the Agent's bridge inside the namespace, e.g. `172.30.0.1/24`; default none. */
  readonly bridgeCidr?: string;
  /** Makes FIRECRACKER_BIN in the work directory (e.g. a wrapper) before the Agent starts; default the double. */
  readonly firecrackerBin?: (workDir: string) => string;
  /** Readies the namespace before the Agent starts in it (an uplink, `net.ipv4.ip_forward`, …). */
  readonly prepareNetns?: (netns: Netns) => Promise<void>;
}

/**
 * A whole Hearth installation over real processes: a fresh database on the throwaway PostgreSQL,
 * the Manager, and one Agent whose bridge (`hbr0`), TAPs and VMMs live in a network namespace made
 * here. Everything listens on loopback; guests are reachable only inside the namespace.
 */
export interface SingleHostStack {
  /** Logs, the image root and the Agent's run directory; removed on cleanup. */
  readonly workDir: string;
  readonly imageRoot: string;
  readonly runDir: string;
  readonly bridge: string;
  readonly database: TestDatabase;
  readonly netns: Netns;
  readonly manager: ManagerProcess;
  readonly agent: HearthProcess;
  /** The cluster CA: `trust.managerDispatcher` calls the Agent as the Manager does. */
  readonly trust: TestClusterTrust;
  /** The admin API token the Manager made at its first start (every scope, every project). */
  readonly adminToken: string;
  /** Undoes all of the above when run (stop); push what you add on top. */
  readonly cleanups: CleanupStack;
}

/** Starts a {@link SingleHostStack}; resolves once the Manager is ready and the Agent's host is healthy. */
export async function startSingleHostStack(options: SingleHostStackOptions): Promise<SingleHostStack> {
  const cleanups = createCleanupStack(options.name);
  return cleanups.unwindOnError(async () => {
    const workDir = mkdtempSync(path.join(os.tmpdir(), `hearth-${options.name}-`));
    cleanups.push(() => rmSync(workDir, { recursive: true, force: true }));
    const database = await createTestDatabase();
    cleanups.push(() => database.drop());
    const netns = await createNetns();
    cleanups.push(() => netns.destroy());
    await options.prepareNetns?.(netns);

    const trust = await createTestClusterTrust(path.join(workDir, 'trust'));
    cleanups.push(() => trust.close());
    const imageRoot = path.join(workDir, 'images');
    const runDir = path.join(workDir, 'fc');
    const bridge = 'hbr0';
    const manager = await createManagerProcess({
      main: options.managerMain,
      nodeFlags: options.managerNodeFlags,
      databaseUrl: database.url,
      imageRoot,
      env: { ...trust.managerEnv, ...options.managerEnv },
      logFile: path.join(workDir, 'logs/manager.log'),
    });
    const agent = await createAgentProcess({
      name: `${options.name}-${netns.name}`,
      managerUrl: manager.url,
      netns,
      bridge,
      bridgeCidr: options.bridgeCidr,
      runDir,
      imageRoot,
      firecrackerBin: options.firecrackerBin?.(workDir),
      main: options.agentMain,
      env: options.agentEnv,
      logFile: path.join(workDir, 'logs/agent.log'),
      trust,
    });
    // The Agent joins with a token the admin asks the Manager for, so the Manager comes first.
    manager.launch();
    cleanups.push(() => manager.stop());
    await manager.waitUntilReady();
    const adminToken = await manager.adminToken();
    agent.launch({
      AGENT_JOIN_TOKEN: await createJoinToken(manager.url, { headers: { authorization: `Bearer ${adminToken}` } }),
    });
    cleanups.push(() => agent.stop());

    await waitForHealthyHosts(manager.url, [agent], adminToken);
    return { workDir, imageRoot, runDir, bridge, database, netns, manager, agent, trust, adminToken, cleanups };
  });
}
