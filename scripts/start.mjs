#!/usr/bin/env node
// `npm start` (after `tsc -b`): the Manager on embedded PGlite plus a local Agent, for trying Hearth
// on one machine. Output of both is prefixed; Ctrl-C stops both. Production runs the two apps as
// separate services with their own configuration (apps/*/.env.example).
//
// Reads (all optional): DATABASE_URL (unset: PGlite in ./data/manager), MANAGER_BIND, MANAGER_DATA_DIR,
// MANAGER_IMAGE_ROOT, AGENT_BIND, MANAGER_BASE, FC_RUN_DIR, FC_BRIDGE, FIRECRACKER_BIN, AGENT_IMAGE_ROOT.
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dataDir = path.join(repoRoot, 'data');
const env = process.env;
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const readyTimeoutMs = 60_000;
const stopTimeoutMs = 10_000;

function say(message) {
  process.stdout.write(`[start] ${message}\n`);
}

/** A path relative to the repository when it is inside it, else absolute. */
function shown(file) {
  const relative = path.relative(repoRoot, file);
  return relative === '' ? '.' : relative.startsWith('..') ? file : relative;
}

function findOnPath(name) {
  for (const dir of (env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** `host:port` → a URL a client on this machine can use (0.0.0.0 and :: mean loopback). */
function urlOf(bind) {
  const at = bind.lastIndexOf(':');
  let host = bind.slice(0, at);
  const port = bind.slice(at + 1);
  if (host === '0.0.0.0' || host === '' || host === '::' || host === '[::]') host = '127.0.0.1';
  return `http://${host}:${port}`;
}

const managerMain = path.join(repoRoot, 'apps/manager/dist/main.js');
const agentMain = path.join(repoRoot, 'apps/agent/dist/main.js');
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

// --- Processes ---------------------------------------------------------------------------------
const children = new Map();
let stopping = false;

function prefixLines(stream, prefix, out) {
  createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => out.write(`${prefix} ${line}\n`));
}

function start(name, main, childEnv) {
  const child = spawn(process.execPath, [main], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  const prefix = `[${name}]`.padEnd(9);
  prefixLines(child.stdout, prefix, process.stdout);
  prefixLines(child.stderr, prefix, process.stderr);
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  children.set(name, { child, exited });
  exited.then(({ code, signal }) => {
    children.delete(name);
    if (stopping) return;
    say(`${name} exited (${signal ?? `code ${code}`}); stopping the rest.`);
    void stopAll(1);
  });
  return child;
}

async function stopAll(exitCode) {
  if (stopping) return;
  stopping = true;
  const running = [...children.entries()];
  if (running.length > 0) say(`stopping ${running.map(([name]) => name).join(' and ')}...`);
  await Promise.all(
    running.map(async ([name, { child, exited }]) => {
      child.kill('SIGTERM');
      const timer = setTimeout(() => {
        say(`${name} did not stop within ${stopTimeoutMs / 1000} s: killing it.`);
        child.kill('SIGKILL');
      }, stopTimeoutMs);
      await exited;
      clearTimeout(timer);
    }),
  );
  process.exit(exitCode);
}

process.on('SIGINT', () => void stopAll(0));
process.on('SIGTERM', () => void stopAll(0));

async function waitUntilHealthy(name, url) {
  const deadline = Date.now() + readyTimeoutMs;
  while (Date.now() < deadline) {
    if (stopping) return false;
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      if (response.ok) return true;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  say(`${name} did not answer ${url} within ${readyTimeoutMs / 1000} s.`);
  return false;
}

start('manager', managerMain, managerEnv);
if (!(await waitUntilHealthy('manager', `${managerUrl}/healthz`))) await stopAll(1);
if (agentEnv !== undefined) {
  start('agent', agentMain, agentEnv);
  if (!(await waitUntilHealthy('agent', `${agentUrl}/agent/v1/health`))) await stopAll(1);
}

say('');
say(`Hearth is up. Manager API: ${managerUrl}   (try: curl ${managerUrl}/v1/hosts)`);
if (agentEnv !== undefined) say(`Local Agent: ${agentUrl} (registers with the Manager by itself)`);
say(`Images go under ${imageRoot}. Ctrl-C stops everything.`);
