#!/usr/bin/env node
// `npm start` (after `tsc -b`): the Manager on embedded PGlite plus a local Agent, for trying Hearth
// on one machine. Output of both is prefixed; both log warnings and errors only (set
// MANAGER_LOG_LEVEL / AGENT_LOG_LEVEL=info for more). Ctrl-C, SIGTERM or SIGINT to this process or to
// `npm start` stops both; what the Agent leaves on the host (running VMs, the bridge, its firewall tables) is then listed
// with the commands that remove it. Production runs the two apps as separate services with their own
// configuration (apps/*/.env.example).
//
// Reads (all optional): DATABASE_URL (unset: PGlite in ./data/manager), MANAGER_BIND, MANAGER_DATA_DIR,
// MANAGER_IMAGE_ROOT, MANAGER_LOG_LEVEL, AGENT_BIND, AGENT_LOG_LEVEL, MANAGER_BASE, FC_RUN_DIR, FC_BRIDGE,
// FC_BRIDGE_ADDR, FC_NETNS, FIRECRACKER_BIN, AGENT_IMAGE_ROOT, AGENT_NFT_TABLE.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createSupervisor,
  findOnPath,
  joinTokenFor,
  managerNodeFlags,
  pollUntil,
  sayer,
  shownPath,
  urlOf,
  waitUntilHealthy,
} from './lib/processes.mjs';
import { adminTokenFile, findToken, managerApi } from './lib/manager-api.mjs';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dataDir = path.join(repoRoot, 'data');
const env = process.env;
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
// The first start of the embedded database (initdb, migrations) can take a minute on a busy machine.
const readyTimeoutMs = 180_000;
const stopTimeoutMs = 10_000;

const say = sayer('start');
/** A path relative to the repository when it is inside it, else absolute. */
const shown = (file) => shownPath(repoRoot, file);

const managerMain = path.join(repoRoot, 'apps/manager/dist/hearth-manager.mjs');
const agentMain = path.join(repoRoot, 'apps/agent/dist/hearth-agent.mjs');
const doubleBin = path.join(repoRoot, 'node_modules/.bin/firecracker-double');

if (!existsSync(managerMain)) {
  say(`${path.relative(repoRoot, managerMain)} does not exist: run \`npm run build\` (or \`npm start\`, which builds first).`);
  process.exit(1);
}

// --- Manager -----------------------------------------------------------------------------------
const managerBind = env.MANAGER_BIND ?? '127.0.0.1:8080';
const managerUrl = urlOf(managerBind);
const imageRoot = env.MANAGER_IMAGE_ROOT ?? path.join(dataDir, 'images');
mkdirSync(imageRoot, { recursive: true });
const managerEnv = {
  ...env,
  MANAGER_BIND: managerBind,
  MANAGER_IMAGE_ROOT: imageRoot,
  // The Firecracker double needs no KVM; set MANAGER_REQUIRE_KVM=on to refuse hosts without it.
  MANAGER_REQUIRE_KVM: env.MANAGER_REQUIRE_KVM ?? 'off',
  // Quiet by default: heartbeats and inventory rounds would log every few seconds at info.
  MANAGER_LOG_LEVEL: env.MANAGER_LOG_LEVEL ?? 'warn',
};
// The Manager's data directory holds the embedded database (when there is no DATABASE_URL) and the
// admin API token it makes at its first start; both are the Manager's alone (it tightens them too).
managerEnv.MANAGER_DATA_DIR = env.MANAGER_DATA_DIR ?? path.join(dataDir, 'manager');
mkdirSync(managerEnv.MANAGER_DATA_DIR, { recursive: true, mode: 0o700 });
chmodSync(managerEnv.MANAGER_DATA_DIR, 0o700);
const tokenFile = adminTokenFile(managerEnv.MANAGER_DATA_DIR);
// The admin token (or HEARTH_TOKEN): read on each call, as the file appears at the Manager's first start.
const api = managerApi(managerUrl, () => findToken(env, managerEnv.MANAGER_DATA_DIR));
if (env.DATABASE_URL === undefined || env.DATABASE_URL === '') {
  delete managerEnv.DATABASE_URL;
  say(`database: embedded PGlite in ${shown(managerEnv.MANAGER_DATA_DIR)} (set DATABASE_URL to use PostgreSQL)`);
} else {
  say('database: PostgreSQL at DATABASE_URL');
}

// --- Agent -------------------------------------------------------------------------------------
let agentEnv;
let agentRunDir;
const agentBind = env.AGENT_BIND ?? '127.0.0.1:19090'; // the Agent's own default
// The Agent serves HTTPS to the Manager's client certificate only (docs/adr/0014-cluster-trust.md).
const agentUrl = urlOf(agentBind).replace(/^http:/, 'https:');
const agentPort = new URL(agentUrl).port;
if (!existsSync(agentMain)) {
  say(`${path.relative(repoRoot, agentMain)} does not exist yet: starting the Manager alone.`);
} else if (!isRoot) {
  say('not root: starting the Manager alone. The Agent needs root to create the bridge and TAP devices;');
  say('run `sudo npm start` to start a local Agent too (VMs cannot be created without one).');
} else {
  let firecrackerBin = env.FIRECRACKER_BIN ?? findOnPath('firecracker');
  if (firecrackerBin === undefined) {
    firecrackerBin = doubleBin;
    say('no `firecracker` binary on PATH: the Agent will run the Firecracker DOUBLE (tools/firecracker-double).');
    say('  The double speaks the Firecracker v1.16 API but SIMULATES the guest: VMs reach "running" and no');
    say('  guest kernel boots. Production hosts run real Firecracker with KVM (set FIRECRACKER_BIN or put');
    say('  `firecracker` on PATH).');
  } else {
    say(`Firecracker: ${firecrackerBin}`);
  }
  const runDir = env.FC_RUN_DIR ?? path.join(dataDir, 'fc');
  mkdirSync(runDir, { recursive: true });
  agentRunDir = runDir;
  agentEnv = {
    ...env,
    AGENT_BIND: agentBind,
    MANAGER_BASE: env.MANAGER_BASE ?? managerUrl,
    FC_RUN_DIR: runDir,
    FIRECRACKER_BIN: firecrackerBin,
    AGENT_IMAGE_ROOT: env.AGENT_IMAGE_ROOT ?? imageRoot,
    AGENT_LOG_LEVEL: env.AGENT_LOG_LEVEL ?? 'warn',
  };
}

// --- What stays on the host after a stop ----------------------------------------------------------
// The Agent leaves its VMs running when it stops, on purpose: a restarted Agent adopts them again,
// so an Agent upgrade does not reboot every guest. It also keeps its bridge and its nftables tables (the
// guests' guard on the bridge, and egress and published ports under AGENT_EGRESS=nat). Say so, and how
// to remove them.
const bridge = env.FC_BRIDGE || 'fcbr0';
const netns = env.FC_NETNS || undefined;
const ipIn = netns === undefined ? 'ip' : `ip -n ${netns}`;
const nftIn = netns === undefined ? 'nft' : `ip netns exec ${netns} nft`;
const nftTable = env.AGENT_NFT_TABLE || 'hearth';
let leftVms = [];

/** The local Agent's host at the Manager (the one at the Agent's port), or undefined. */
async function localHost() {
  const response = await api('GET', '/v1/hosts?limit=500', undefined, 3_000);
  if (response.status !== 200) return undefined;
  return response.body.items.find((host) => new URL(host.addr).port === agentPort);
}

/** What the local Agent holds, read through the Manager (only a Manager's certificate may call the Agent). */
async function readAgentVms() {
  if (agentEnv === undefined) return;
  try {
    const host = await localHost();
    if (host === undefined) return;
    const response = await api('GET', `/v1/hosts/${host.id}/resources`, undefined, 3_000);
    if (response.status !== 200) return;
    const byVm = new Map();
    for (const item of response.body.items) {
      const vm = byVm.get(item.vmId) ?? { vmId: item.vmId, pid: null, tapName: null };
      if (item.kind === 'process') vm.pid = Number(item.ref);
      if (item.kind === 'tap') vm.tapName = item.ref;
      byVm.set(item.vmId, vm);
    }
    leftVms = [...byVm.values()].filter((vm) => vm.pid !== null || vm.tapName !== null);
  } catch {
    // the Manager or the Agent is not answering: nothing to report from it
  }
}

function bridgeAddresses() {
  try {
    const out = execFileSync('ip', [...(netns === undefined ? [] : ['-n', netns]), '-o', '-4', 'addr', 'show', 'dev', bridge], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    return { exists: true, addresses: [...out.matchAll(/\binet (\S+)/g)].map((match) => match[1]) };
  } catch {
    return { exists: false, addresses: [] };
  }
}

/** The Agent's nftables tables (`bridge hearth`, `ip hearth`) that exist now; none when nft is missing. */
function firewallTables() {
  try {
    const out = execFileSync(nftIn.split(' ')[0], [...nftIn.split(' ').slice(1), 'list', 'tables'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    return [...out.matchAll(/^table (\S+) (\S+)$/gm)]
      .filter((match) => match[2] === nftTable)
      .map((match) => `${match[1]} ${match[2]}`);
  } catch {
    return [];
  }
}

function reportLeftovers() {
  if (agentEnv === undefined) return;
  const where = netns === undefined ? "this host's own network namespace" : `the network namespace ${netns}`;
  if (leftVms.length > 0) {
    say('');
    say(
      `${leftVms.length} VM${leftVms.length === 1 ? '' : 's'} of the local Agent stay${leftVms.length === 1 ? 's' : ''} running, in ${where}:`,
    );
    for (const vm of leftVms) say(`  ${vm.vmId}: VMM pid ${vm.pid ?? '-'}, TAP ${vm.tapName ?? '-'}`);
    say('The Agent leaves VMs running when it stops, so that the next `npm start` adopts them again.');
    say(`To remove them, delete them through the API while Hearth runs (npx hearth vm rm <id>), or now:`);
    const pids = leftVms.flatMap((vm) => (vm.pid === null ? [] : [vm.pid]));
    if (pids.length > 0) say(`  sudo kill ${pids.join(' ')}`);
    for (const vm of leftVms) if (vm.tapName !== null) say(`  sudo ${ipIn} link delete ${vm.tapName}`);
    say('  (killing a VMM leaves its VM recorded: deleting it through the API removes it for good)');
  }
  const { exists, addresses } = bridgeAddresses();
  if (exists) {
    say(
      `The bridge ${bridge}${addresses.length > 0 ? ` (${addresses.join(', ')})` : ''} stays in ${where} for the next start; ` +
        `remove it with: sudo ${ipIn} link delete ${bridge}`,
    );
  }
  const tables = firewallTables();
  if (tables.length > 0) {
    say(
      `The Agent's firewall (nftables: ${tables.join(', ')}) stays in ${where} for the next start; remove it after the VMs above with:`,
    );
    for (const table of tables) say(`  sudo ${nftIn} delete table ${table}`);
  }
}

// --- Processes (scripts/lib/processes.mjs) --------------------------------------------------------
const supervisor = createSupervisor({ say, stopTimeoutMs, beforeStop: readAgentVms, afterStop: reportLeftovers });
const stopAll = (exitCode) => supervisor.shutdown(exitCode);
supervisor.handleSignals();
const healthy = (name, url) =>
  waitUntilHealthy(name, url, { say, timeoutMs: readyTimeoutMs, isCancelled: () => supervisor.isStopping });

supervisor.start('manager', managerMain, managerEnv, managerNodeFlags(repoRoot));
if (!(await healthy('manager', `${managerUrl}/healthz`))) await stopAll(1);
if (agentEnv !== undefined) {
  // At its first start the Agent joins the cluster with a one-time token; later it needs none.
  let joinToken;
  try {
    const token = findToken(env, managerEnv.MANAGER_DATA_DIR);
    joinToken = await joinTokenFor(managerUrl, agentRunDir, token === undefined ? {} : { authorization: `Bearer ${token}` });
  } catch (error) {
    say(`could not get a join token for the local Agent: ${error.message}`);
    await stopAll(1);
  }
  supervisor.start('agent', agentMain, { ...agentEnv, ...(joinToken === undefined ? {} : { AGENT_JOIN_TOKEN: joinToken }) });
  const registered = await pollUntil(async () => (await localHost().catch(() => undefined))?.status === 'healthy', {
    timeoutMs: readyTimeoutMs,
    isCancelled: () => supervisor.isStopping,
  });
  if (!registered) {
    if (!supervisor.isStopping) say(`the agent did not register with the manager within ${readyTimeoutMs / 1000} s.`);
    await stopAll(1);
  }
}

say('');
say(`Hearth is up. Manager API: ${managerUrl}`);
if (existsSync(tokenFile)) {
  say(`The admin API token is in ${shown(tokenFile)} (readable by you only). Try:`);
  say(`  export HEARTH_URL=${managerUrl} HEARTH_TOKEN=$(cat ${shown(tokenFile)})`);
  say(`  npx hearth host ls        # then: npx hearth help, or the web console at ${managerUrl}/`);
} else {
  say(`The database already had API tokens (the admin token was made by an earlier start, with another data directory).`);
}
if (agentEnv !== undefined) say(`Local Agent: ${agentUrl} (joined the cluster; only the Manager's certificate may call it)`);
say(`Images go under ${imageRoot}. Ctrl-C stops the Manager and the Agent (VMs keep running; see README).`);
