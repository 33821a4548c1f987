import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  createAgentProcess,
  createCleanupStack,
  createManagerProcess,
  createNetns,
  createJoinToken,
  createTestClusterTrust,
  createTestDatabase,
  type TestClusterTrust,
  waitFor,
  waitForHealthyHosts,
  type HearthProcess,
  type ManagerProcess,
  type Netns,
  type StartedProcess,
  writeEmptyExt4,
  writeFakeKernel,
} from '@hearth/testkit';
import { request, type ApiResponse } from './http.js';

export type { ApiResponse } from './http.js';

/**
 * A Hearth installation over real processes for crash tests: one Manager and N Agents, each Agent
 * in its own network namespace with its own run directory and port. Any process can be killed
 * (`kill -9`, or by a failpoint named in HEARTH_FAILPOINTS) and started again.
 */
export interface ClusterOptions {
  readonly agentCount: number;
  /**
   * Defaults to a fresh database on the throwaway PostgreSQL of `npm test`; `embedded`: the
   * Manager's default, PGlite in a data directory under the cluster's work directory.
   */
  readonly databaseUrl?: string | 'embedded';
  readonly managerEnv?: Readonly<Record<string, string>>;
  /**
   * Further Manager replicas on the same database (default 0), started after the first one leads
   * the reconciler, so the first one is the leader at start.
   */
  readonly extraManagers?: number;
  /**
   * Which replica the Agents register and heartbeat with (0 = the first; default 0). Several: all
   * of them in MANAGER_BASE, tried in this order.
   */
  readonly agentsReportTo?: number | readonly number[];
  /**
   * A directory whose `node` runs the Managers, the Agents and the VMMs (the double) instead of
   * the one on PATH: another Node.js release line.
   */
  readonly nodeBinDir?: string;
  /** Extra environment for each Agent and the VMMs it spawns (e.g. the double's guest backend). */
  readonly agentEnv?: Readonly<Record<string, string>>;
  /** Address given to each Agent's bridge inside its own namespace, e.g. `172.30.0.1/16`. */
  readonly bridgeCidr?: string;
}

/** One more Manager replica on the cluster's database (the first one is `cluster.manager`). */
export interface ClusterReplica {
  readonly url: string;
  readonly process: StartedProcess;
  /** A request with the admin token; `headers` may name another token or none (`authorization: ''`). */
  api<T = unknown>(method: string, route: string, body?: unknown, headers?: Record<string, string>): Promise<ApiResponse<T>>;
  /** Starts it (again); waits until it is ready. */
  start(env?: Readonly<Record<string, string>>): Promise<void>;
  /** SIGKILL, as a crash. */
  kill(): Promise<void>;
}

export interface ClusterAgent {
  readonly name: string;
  readonly url: string;
  readonly netns: Netns;
  readonly runDir: string;
  readonly bridge: string;
  /** Its log (pino JSON lines), kept across restarts. */
  readonly logFile: string;
  readonly process: StartedProcess;
  /** Calls the Agent as a Manager does (mutual TLS). */
  api<T = unknown>(method: string, route: string, body?: unknown): Promise<ApiResponse<T>>;
  /** Starts the Agent (again) without waiting for it to answer (e.g. when it is expected not to). */
  launch(env?: Readonly<Record<string, string>>): StartedProcess;
  /** Starts the Agent (again), with extra environment (e.g. HEARTH_FAILPOINTS); waits until it answers. */
  start(env?: Readonly<Record<string, string>>): Promise<void>;
  /** SIGKILL, as a crash: VMMs it started keep running. */
  kill(): Promise<void>;
  inventory(): Promise<Inventory>;
}

export interface Inventory {
  readonly vms: ReadonlyArray<{
    readonly vmId: string;
    readonly vmmState: string;
    readonly pid: number | null;
    readonly tapName: string | null;
    readonly resources: ReadonlyArray<{ readonly kind: string; readonly ref: string }>;
    readonly snapshots?: ReadonlyArray<{ readonly id: string; readonly state: string }>;
  }>;
}

export interface ClusterVm {
  readonly id: string;
  readonly name: string;
  readonly state: string;
  readonly hostId: string;
  readonly failureReason: { code: string; message: string } | null;
}

export interface Cluster {
  readonly managerUrl: string;
  readonly workDir: string;
  readonly imageRoot: string;
  readonly agents: readonly ClusterAgent[];
  /** The cluster CA the test made (to call Agents as a Manager, or forge what an attacker would). */
  readonly trust: TestClusterTrust;
  /** Every Manager replica, the first one being `manager`/`managerUrl` (the same process). */
  readonly replicas: readonly ClusterReplica[];
  readonly manager: StartedProcess;
  /** The admin API token the first Manager made (every scope, every project); `api` sends it. */
  readonly adminToken: string;
  /** A request with the admin token; `headers` may name another token or none (`authorization: ''`). */
  api<T = unknown>(method: string, route: string, body?: unknown, headers?: Record<string, string>): Promise<ApiResponse<T>>;
  /** Starts the Manager (again) with extra environment; waits until it is ready. */
  startManager(env?: Readonly<Record<string, string>>): Promise<void>;
  killManager(): Promise<void>;
  /** Waits until the Manager reports every Agent's host healthy (heartbeats flow again after a restart). */
  waitForHealthyHosts(): Promise<void>;
  images(): Promise<{ kernelImageId: string; rootfsImageId: string }>;
  vms(): Promise<ClusterVm[]>;
  stop(): Promise<void>;
}

/** Short intervals, so that crashes are noticed and repaired within a second or two. */
export const fastManagerEnv: Readonly<Record<string, string>> = Object.freeze({
  MANAGER_HEARTBEAT_MS: '400',
  MANAGER_RESYNC_MS: '250',
  MANAGER_RECONCILE_GRACE_MS: '1000',
  MANAGER_RETRY_BACKOFF_MS: '200',
  MANAGER_REQUIRE_KVM: 'off',
  MANAGER_LOG_LEVEL: 'info',
});

export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const cleanups = createCleanupStack('cluster');
  return cleanups.unwindOnError(async () => {
    const workDir = mkdtempSync(path.join(os.tmpdir(), 'hearth-crash-'));
    cleanups.push(() => {
      // HEARTH_KEEP_TEST_LOGS=1 keeps this run's logs for a post-mortem (one directory, replaced on
      // every run); by default nothing the test made is left behind.
      if (process.env['HEARTH_KEEP_TEST_LOGS'] === '1' && existsSync(path.join(workDir, 'logs'))) {
        const logs = path.join(os.tmpdir(), 'hearth-test-logs');
        rmSync(logs, { recursive: true, force: true });
        cpSync(path.join(workDir, 'logs'), logs, { recursive: true });
      }
      rmSync(workDir, { recursive: true, force: true });
    });
    let databaseUrl = options.databaseUrl;
    if (databaseUrl === undefined) {
      const database = await createTestDatabase();
      cleanups.push(() => database.drop());
      databaseUrl = database.url;
    }
    const trust = await createTestClusterTrust(path.join(workDir, 'trust'));
    cleanups.push(() => trust.close());
    const imageRoot = path.join(workDir, 'images');
    // No DATABASE_URL: the Manager opens PGlite in MANAGER_DATA_DIR.
    const isEmbedded = databaseUrl === 'embedded';
    const databaseEnv = isEmbedded ? { DATABASE_URL: undefined } : {};
    // A failpoint is armed per start (start(env)), never inherited from the test run.
    const nodeEnv = options.nodeBinDir === undefined ? {} : { PATH: `${options.nodeBinDir}:${process.env['PATH'] ?? ''}` };
    const managerEnv = {
      ...nodeEnv,
      ...fastManagerEnv,
      ...trust.managerEnv,
      ...options.managerEnv,
      ...databaseEnv,
      HEARTH_FAILPOINTS: undefined,
    };
    const managers: ManagerProcess[] = [];
    for (let index = 0; index <= (options.extraManagers ?? 0); index += 1) {
      managers.push(
        await createManagerProcess({
          databaseUrl,
          imageRoot,
          env: managerEnv,
          name: index === 0 ? 'the manager' : `manager replica ${index}`,
          ...(isEmbedded ? { dataDir: path.join(workDir, 'manager-data') } : {}),
          // PGlite creates and migrates its database in WebAssembly: seconds, many more under load.
          ...(databaseUrl === 'embedded' ? { readyTimeoutMs: 120_000 } : {}),
          logFile: path.join(workDir, index === 0 ? 'logs/manager.log' : `logs/manager-${index}.log`),
        }),
      );
    }
    const manager = managers[0]!;
    const reportTo = options.agentsReportTo ?? 0;
    const agentsManagerUrl = (typeof reportTo === 'number' ? [reportTo] : reportTo)
      .map((index) => managers[index]!.url)
      .join(',');

    const agentProcesses: HearthProcess[] = [];
    const agents: ClusterAgent[] = [];
    for (let index = 0; index < options.agentCount; index += 1) {
      const netns = await createNetns();
      cleanups.push(() => netns.destroy());
      const name = `crash-${index}-${netns.name}`;
      const runDir = path.join(workDir, `fc-${index}`);
      const agentLogFile = path.join(workDir, `logs/agent-${index}.log`);
      const agent = await createAgentProcess({
        name,
        managerUrl: agentsManagerUrl,
        netns,
        bridge: 'hbr0',
        runDir,
        imageRoot,
        env: { ...nodeEnv, ...options.agentEnv, HEARTH_FAILPOINTS: undefined },
        ...(options.bridgeCidr === undefined ? {} : { bridgeCidr: options.bridgeCidr }),
        logFile: agentLogFile,
        trust,
      });
      cleanups.push(() => agent.stop());
      agentProcesses.push(agent);
      agents.push({
        name,
        url: agent.url,
        netns,
        runDir,
        bridge: 'hbr0',
        logFile: agentLogFile,
        get process() {
          return agent.process;
        },
        api: (method, route, body) => request(agent.url, method, route, body, {}, trust.managerDispatcher),
        launch: (env) => agent.launch(env),
        start: (env) => agent.start(env),
        kill: () => agent.kill(),
        inventory: async () =>
          (await request<Inventory>(agent.url, 'GET', '/agent/v1/inventory', undefined, {}, trust.managerDispatcher)).body,
      });
    }
    for (const replica of managers) cleanups.push(() => replica.stop());

    // The admin token the first Manager made at its first start; every request of the test sends it.
    let adminToken = '';
    const asAdmin = (): Record<string, string> => ({ authorization: `Bearer ${adminToken}` });
    let kernelImageId = '';
    let rootfsImageId = '';
    const cluster: Cluster = {
      managerUrl: manager.url,
      workDir,
      imageRoot,
      agents,
      trust,
      replicas: managers.map((replica) => ({
        url: replica.url,
        get process() {
          return replica.process;
        },
        api: (method, route, body, headers) => request(replica.url, method, route, body, { ...asAdmin(), ...headers }),
        start: (env) => replica.start(env),
        kill: () => replica.kill(),
      })),
      get manager() {
        return manager.process;
      },
      get adminToken() {
        return adminToken;
      },
      api: (method, route, body, headers) => request(manager.url, method, route, body, { ...asAdmin(), ...headers }),
      startManager: (env) => manager.start(env),
      killManager: () => manager.kill(),
      waitForHealthyHosts: () => waitForHealthyHosts(manager.url, agentProcesses, adminToken),
      async images() {
        if (kernelImageId !== '') return { kernelImageId, rootfsImageId };
        writeFakeKernel(path.join(imageRoot, 'kernels/vmlinux'));
        writeEmptyExt4(path.join(imageRoot, 'rootfs/base.ext4'));
        const kernel = await cluster.api<{ id: string }>('POST', '/v1/images', {
          kind: 'kernel',
          name: 'vmlinux-crash',
          hostPath: path.join(imageRoot, 'kernels/vmlinux'),
        });
        const rootfs = await cluster.api<{ id: string }>('POST', '/v1/images', {
          kind: 'rootfs',
          name: 'base-crash',
          hostPath: path.join(imageRoot, 'rootfs/base.ext4'),
        });
        kernelImageId = kernel.body.id;
        rootfsImageId = rootfs.body.id;
        return { kernelImageId, rootfsImageId };
      },
      async vms() {
        const items: ClusterVm[] = [];
        let cursor: string | null = null;
        do {
          const page: ApiResponse<{ items: ClusterVm[]; nextCursor: string | null }> = await cluster.api(
            'GET',
            `/v1/vms?limit=500${cursor === null ? '' : `&cursor=${cursor}`}`,
          );
          items.push(...page.body.items);
          cursor = page.body.nextCursor;
        } while (cursor !== null);
        return items;
      },
      stop: () => cleanups.run(),
    };
    await manager.start();
    adminToken = await manager.adminToken();
    if (managers.length > 1) {
      await waitFor(
        () =>
          request<{ reconciler: string }>(manager.url, 'GET', '/v1/system', undefined, asAdmin()).then(
            (r) => r.body.reconciler === 'leader',
          ),
        {
          timeoutMs: 20_000,
          description: () => `the first manager leads the reconciler\n${manager.process.output()}`,
        },
      );
      for (const replica of managers.slice(1)) await replica.start();
    }
    // Each Agent joins at its first start with a token of its own, asked for by the admin.
    for (const agent of agentProcesses) {
      await agent.start({ AGENT_JOIN_TOKEN: await createJoinToken(manager.url, { headers: asAdmin() }) });
    }
    await waitForHealthyHosts(manager.url, agentProcesses, adminToken);
    return cluster;
  });
}

/** Firecracker processes serving a socket under the Agent's run directory, found in /proc. */
export function vmmPidsOf(agent: ClusterAgent, vmId?: string): number[] {
  // A VMM works in its VM's directory: with `vmId`, only that VM's VMMs (a VM left behind by an
  // earlier failed case is then no VMM of this one's). Its command line names its socket there, or
  // in the warm VMMs' directory for one the VM took from there (the directory moved with it).
  const directory = path.join(agent.runDir, 'vms', ...(vmId === undefined ? [] : [vmId]));
  return agentVmms(agent)
    .filter((vmm) => vmm.workingDirectory === directory || vmm.workingDirectory.startsWith(`${directory}/`))
    .map((vmm) => vmm.pid);
}

/** The warm VMMs the Agent keeps idle: no VM has taken them. */
export function warmVmmPidsOf(agent: ClusterAgent): number[] {
  const directory = `${path.join(agent.runDir, 'vmm-pool')}/`;
  return agentVmms(agent)
    .filter((vmm) => vmm.workingDirectory.startsWith(directory))
    .map((vmm) => vmm.pid);
}

/** A process's working directory now, or `?` when it cannot be read. */
function workingDirectoryOf(pid: number): string {
  try {
    return readlinkSync(`/proc/${pid}/cwd`);
  } catch {
    return '?';
  }
}

/** Live Firecracker processes serving a socket under the Agent's run directory, with their working directories. */
function agentVmms(agent: ClusterAgent): { pid: number; workingDirectory: string }[] {
  const prefix = `${agent.runDir}/`;
  const found: { pid: number; workingDirectory: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (/\) [ZX] /.test(stat)) continue;
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      const at = args.indexOf('--api-sock');
      if (at < 0 || !(args[at + 1] ?? '').startsWith(prefix)) continue;
      found.push({ pid: Number(entry), workingDirectory: readlinkSync(`/proc/${entry}/cwd`) });
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** VM directories under the Agent's run directory. */
export function vmDirectoriesOf(agent: ClusterAgent): string[] {
  const dir = path.join(agent.runDir, 'vms');
  return existsSync(dir) ? readdirSync(dir).filter((name) => name.startsWith('vm_')) : [];
}

/** TAPs in the Agent's namespace: every tun device (marked or not, attached or not), what is attached to its bridge, and what carries an Agent's mark. */
export async function tapsOf(agent: ClusterAgent): Promise<string[]> {
  try {
    // Every TAP in the Agent's namespace, marked or not, attached or not: the namespace is the
    // test's own, so each one is the Agent's.
    const { stdout } = await agent.netns.exec(['ip', '-j', '-d', 'link', 'show']);
    const links = JSON.parse(stdout.trim() === '' ? '[]' : stdout) as Array<{
      ifname: string;
      master?: string;
      ifalias?: string;
      linkinfo?: { info_kind?: string };
    }>;
    return links
      .filter(
        (link) =>
          link.master === agent.bridge || (link.ifalias ?? '').startsWith('hearth:') || link.linkinfo?.info_kind === 'tun',
      )
      .map((link) => link.ifname);
  } catch {
    return [];
  }
}

const runtimeKinds = new Set(['process', 'tap', 'socket', 'fifo', 'nft_rule']);

/** One rule of a VM in Hearth's tables, named as the Agent's ledger names it (`nft_rule` resources). */
export interface NftRule {
  readonly vmId: string;
  readonly ref: string;
}

type NftJsonObject = {
  readonly chain?: { readonly name: string };
  readonly map?: { readonly name: string; readonly elem?: readonly (readonly [unknown, unknown])[] };
  readonly set?: { readonly name: string; readonly elem?: readonly unknown[] };
};

/** The VM id an nft element's comment names, or ''. */
function commentOf(element: unknown): string {
  return (element as { elem?: { comment?: string } } | null)?.elem?.comment ?? '';
}

async function nftObjects(agent: ClusterAgent, family: 'ip' | 'bridge'): Promise<NftJsonObject[]> {
  try {
    const { stdout } = await agent.netns.exec(['nft', '-j', 'list', 'table', family, 'hearth']);
    return (JSON.parse(stdout) as { nftables?: NftJsonObject[] }).nftables ?? [];
  } catch {
    return []; // no table, or no nft on this machine: no rule
  }
}

/**
 * Every rule of a VM that Hearth's tables (`ip hearth` and `bridge hearth`) in the Agent's
 * namespace hold: its chains, the elements that jump to them or carry its id as their comment, and
 * each published port (`ip hearth ports tcp . 8080`).
 */
export async function nftRulesOf(agent: ClusterAgent): Promise<NftRule[]> {
  const rules: NftRule[] = [];
  for (const family of ['ip', 'bridge'] as const) {
    const own = (vmId: string): void => {
      if (vmId.startsWith('vm_')) rules.push({ vmId, ref: `${family} hearth ${vmId}` });
    };
    for (const object of await nftObjects(agent, family)) {
      if (object.chain !== undefined) own(object.chain.name);
      for (const [key, value] of object.map?.elem ?? []) {
        if (object.map?.name === 'ports') {
          const [protocol, port] = ((key as { elem?: { val?: { concat?: unknown[] } } }).elem?.val?.concat ?? []) as unknown[];
          rules.push({ vmId: commentOf(key), ref: `ip hearth ports ${String(protocol)} . ${String(port)}` });
        } else {
          own((value as { jump?: { target?: string } }).jump?.target ?? '');
        }
      }
      for (const element of object.set?.elem ?? []) own(commentOf(element));
    }
  }
  return rules;
}

/**
 * Everything on the host not accounted for by the Manager's records, described in words (empty:
 * no leak). Compares the real host (VMM processes, TAPs in the namespace, VM directories) with the
 * Agent's inventory, and the inventory with the VM rows: an untracked process, TAP, nft rule (chain, element or published port) or directory, a
 * VM the Agent holds with no row on this host, a stopped or failed VM holding a process or TAP, or
 * a running VM without its VMM.
 */
export async function leaksOn(agent: ClusterAgent, hostId: string, vms: readonly ClusterVm[]): Promise<string[]> {
  const leaks: string[] = [];
  const inventory = await agent.inventory();
  const rows = new Map(vms.filter((vm) => vm.hostId === hostId).map((vm) => [vm.id, vm]));
  const recordedPids = new Set(inventory.vms.flatMap((vm) => (vm.pid === null ? [] : [vm.pid])));
  const recordedTaps = new Set(inventory.vms.flatMap((vm) => (vm.tapName === null ? [] : [vm.tapName])));
  const recordedVms = new Set(inventory.vms.map((vm) => vm.vmId));
  for (const pid of vmmPidsOf(agent)) {
    if (!recordedPids.has(pid)) leaks.push(`untracked VMM process ${pid} (in ${workingDirectoryOf(pid)})`);
  }
  for (const tap of await tapsOf(agent)) if (!recordedTaps.has(tap)) leaks.push(`untracked TAP ${tap}`);
  for (const dir of vmDirectoriesOf(agent)) if (!recordedVms.has(dir)) leaks.push(`untracked directory ${dir}`);
  const recordedRules = new Set(
    inventory.vms.flatMap((vm) =>
      vm.resources.flatMap((resource) => (resource.kind === 'nft_rule' ? [`${vm.vmId} ${resource.ref}`] : [])),
    ),
  );
  for (const rule of await nftRulesOf(agent)) {
    if (!recordedRules.has(`${rule.vmId} ${rule.ref}`)) leaks.push(`untracked nft rule ${rule.ref} of ${rule.vmId || 'no VM'}`);
  }
  for (const agentVm of inventory.vms) {
    const row = rows.get(agentVm.vmId);
    if (row === undefined) {
      leaks.push(`orphan: the agent holds ${agentVm.vmId}, which has no VM record on this host`);
      continue;
    }
    const runtime = agentVm.resources.filter((resource) => runtimeKinds.has(resource.kind));
    if ((row.state === 'stopped' || row.state === 'failed') && runtime.length > 0) {
      leaks.push(`${row.state} VM ${row.id} still holds ${runtime.map((r) => `${r.kind} ${r.ref}`).join(', ')}`);
    }
  }
  for (const row of rows.values()) {
    if (row.state !== 'running') continue;
    const agentVm = inventory.vms.find((vm) => vm.vmId === row.id);
    if (agentVm?.vmmState !== 'running')
      leaks.push(`running VM ${row.id} has no running VMM (${agentVm?.vmmState ?? 'no record'})`);
  }
  return leaks;
}

/** Polls `check` (a list of problems) until it is empty; answers the time taken, or throws with the last problems. */
export async function convergence(check: () => Promise<string[]>, timeoutMs: number): Promise<number> {
  const startedAt = performance.now();
  let problems: string[] = [];
  while (performance.now() - startedAt < timeoutMs) {
    try {
      problems = await check();
    } catch (error) {
      problems = [`check failed: ${(error as Error).message}`];
    }
    if (problems.length === 0) return performance.now() - startedAt;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`not converged within ${timeoutMs} ms:\n  ${problems.join('\n  ')}`);
}
