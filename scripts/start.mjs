#!/usr/bin/env node
// `npm start` (after `tsc -b`): the Manager on embedded PGlite plus a local Agent, for trying Hearth
// on one machine. Output of both is prefixed; Ctrl-C stops both. Production runs the two apps as
// separate services with their own configuration (apps/*/.env.example).
//
// Reads (all optional): DATABASE_URL (unset: PGlite in ./data/manager), MANAGER_BIND, MANAGER_DATA_DIR,
// MANAGER_IMAGE_ROOT, AGENT_BIND, MANAGER_BASE, FC_RUN_DIR, FC_BRIDGE, FIRECRACKER_BIN, AGENT_IMAGE_ROOT.
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSupervisor, findOnPath, sayer, shownPath, urlOf, waitUntilHealthy } from './lib/processes.mjs';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dataDir = path.join(repoRoot, 'data');
const env = process.env;
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const readyTimeoutMs = 60_000;
const stopTimeoutMs = 10_000;

const say = sayer('start');
/** A path relative to the repository when it is inside it, else absolute. */
const shown = (file) => shownPath(repoRoot, file);

const managerMain = path.join(repoRoot, 'apps/manager/dist/main.js');
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
};
if (env.DATABASE_URL === undefined || env.DATABASE_URL === '') {
  delete managerEnv.DATABASE_URL;
  managerEnv.MANAGER_DATA_DIR = env.MANAGER_DATA_DIR ?? path.join(dataDir, 'manager');
  mkdirSync(managerEnv.MANAGER_DATA_DIR, { recursive: true });
  say(`database: embedded PGlite in ${shown(managerEnv.MANAGER_DATA_DIR)} (set DATABASE_URL to use PostgreSQL)`);
} else {
  say('database: PostgreSQL at DATABASE_URL');
}

// --- Agent -------------------------------------------------------------------------------------
let agentEnv;
const agentBind = env.AGENT_BIND ?? '127.0.0.1:9090';
const agentUrl = urlOf(agentBind);
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
  agentEnv = {
    ...env,
    AGENT_BIND: agentBind,
    MANAGER_BASE: env.MANAGER_BASE ?? managerUrl,
    FC_RUN_DIR: runDir,
    FIRECRACKER_BIN: firecrackerBin,
    AGENT_IMAGE_ROOT: env.AGENT_IMAGE_ROOT ?? imageRoot,
  };
}

// --- Processes (scripts/lib/processes.mjs) --------------------------------------------------------
const supervisor = createSupervisor({ say, stopTimeoutMs });
const stopAll = (exitCode) => supervisor.shutdown(exitCode);
supervisor.handleSignals();
const healthy = (name, url) =>
  waitUntilHealthy(name, url, { say, timeoutMs: readyTimeoutMs, isCancelled: () => supervisor.isStopping });

supervisor.start('manager', managerMain, managerEnv);
if (!(await healthy('manager', `${managerUrl}/healthz`))) await stopAll(1);
if (agentEnv !== undefined) {
  supervisor.start('agent', agentMain, agentEnv);
  if (!(await healthy('agent', `${agentUrl}/agent/v1/health`))) await stopAll(1);
}

say('');
say(`Hearth is up. Manager API: ${managerUrl}   (try: curl ${managerUrl}/v1/hosts)`);
if (agentEnv !== undefined) say(`Local Agent: ${agentUrl} (registers with the Manager by itself)`);
say(`Images go under ${imageRoot}. Ctrl-C stops everything.`);
