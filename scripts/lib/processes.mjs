// Helpers shared by scripts/start.mjs (`npm start`) and scripts/demo.mjs (`npm run demo`): run the
// Manager and the Agent as child processes with prefixed output, wait for them, and stop them all
// (SIGTERM, then SIGKILL after a grace period) on Ctrl-C, SIGTERM, the loss of the parent process
// or when one exits on its own.
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** `say('...')` writes `[tag] ...` on stdout. */
export function sayer(tag) {
  return (message) => process.stdout.write(`[${tag}] ${message}\n`);
}

/** A path relative to `root` when it is inside it, else absolute. */
export function shownPath(root, file) {
  const relative = path.relative(root, file);
  return relative === '' ? '.' : relative.startsWith('..') ? file : relative;
}

export function findOnPath(name, env = process.env) {
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

/**
 * The V8 flags node is given before the Manager's entry point, from the list beside the Manager
 * (`apps/manager/node-flags.json`, ADR 0011); every launcher of the Manager gives them.
 */
export function managerNodeFlags(repoRoot) {
  return JSON.parse(readFileSync(path.join(repoRoot, 'apps/manager/node-flags.json'), 'utf8'));
}

/** `host:port` → a URL a client on this machine can use (0.0.0.0 and :: mean loopback). */
export function urlOf(bind) {
  const at = bind.lastIndexOf(':');
  let host = bind.slice(0, at);
  const port = bind.slice(at + 1);
  if (host === '0.0.0.0' || host === '' || host === '::' || host === '[::]') host = '127.0.0.1';
  return `http://${host}:${port}`;
}

/**
 * A one-time join token for a local Agent's first start (AGENT_JOIN_TOKEN), from the Manager at
 * `managerUrl`; undefined when the Agent of `runDir` has joined already (it keeps what it got in
 * agent-trust.json and needs no token again). See docs/adr/0014-cluster-trust.md.
 */
export async function joinTokenFor(managerUrl, runDir, headers = {}) {
  if (existsSync(path.join(runDir, 'agent-trust.json'))) return undefined;
  const response = await fetch(`${managerUrl}/v1/hosts/join-tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: '{}',
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  if (response.status !== 201) throw new Error(`POST /v1/hosts/join-tokens answered ${response.status}: ${text}`);
  return JSON.parse(text).token;
}

/** Resolves to the port when `host:port` can be listened on now (port 0: any free port), else undefined. */
export function listenablePort(host, port) {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(undefined));
    server.listen({ host, port, exclusive: true }, () => {
      const bound = server.address().port;
      server.close(() => resolve(bound));
    });
  });
}

/**
 * Polls `check` (an async function; truthy = done) every `intervalMs` until it is truthy, `timeoutMs`
 * passes or `isCancelled()` turns true. Resolves to the truthy value, or undefined.
 */
export async function pollUntil(check, { timeoutMs, intervalMs = 200, isCancelled = () => false }) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !isCancelled()) {
    try {
      const value = await check();
      if (value) return value;
    } catch {
      // not yet
    }
    await sleep(intervalMs);
  }
  return undefined;
}

/** True once `url` answers 2xx (each try has 2 s); logs and resolves false after `timeoutMs`. */
export async function waitUntilHealthy(name, url, { say, timeoutMs, isCancelled }) {
  const ok = await pollUntil(async () => (await fetch(url, { signal: AbortSignal.timeout(2_000) })).ok, {
    timeoutMs,
    isCancelled,
  });
  if (!ok && !(isCancelled?.() ?? false)) say(`${name} did not answer ${url} within ${timeoutMs / 1000} s.`);
  return ok === true;
}

function prefixLines(stream, prefix, out) {
  createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => out.write(`${prefix} ${line}\n`));
}

/**
 * Node children with prefixed output and one way out. `shutdown(exitCode)` runs once: `beforeStop`,
 * then SIGTERM to every child (SIGKILL after `stopTimeoutMs`), then `afterStop`, then exits the
 * process. A child that exits on its own shuts everything down with exit code 1. `handleSignals()`
 * makes SIGINT and SIGTERM (or the signals given) shut down with exit code 0.
 *
 * `start(name, main, env, nodeFlags)` runs `node ...nodeFlags main`.
 *
 * `ownProcessGroup: true` starts children in their own process group, so a Ctrl-C in the terminal
 * reaches only this script, which then stops them in its own order (e.g. after API calls to them).
 */
export function createSupervisor({ say, stopTimeoutMs = 10_000, ownProcessGroup = false, beforeStop, afterStop }) {
  const children = new Map();
  let stopping = false;
  let exitCode = 0;

  function start(name, main, childEnv, nodeFlags = []) {
    const child = spawn(process.execPath, [...nodeFlags, main], {
      env: childEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: ownProcessGroup,
    });
    const prefix = `[${name}]`.padEnd(9);
    prefixLines(child.stdout, prefix, process.stdout);
    prefixLines(child.stderr, prefix, process.stderr);
    const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    children.set(name, { child, exited });
    exited.then(({ code, signal }) => {
      children.delete(name);
      if (stopping) return;
      say(`${name} exited (${signal ?? `code ${code}`}); stopping the rest.`);
      void shutdown(1);
    });
    return child;
  }

  async function stopChildren() {
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
  }

  async function runHook(hook) {
    if (hook === undefined) return;
    try {
      await hook();
    } catch (error) {
      say(`cleanup step failed: ${error instanceof Error ? error.message : String(error)}`);
      exitCode = exitCode || 1;
    }
  }

  async function shutdown(code) {
    if (stopping) return;
    stopping = true;
    exitCode = code;
    await runHook(beforeStop);
    await stopChildren();
    await runHook(afterStop);
    process.exit(exitCode);
  }

  /**
   * SIGINT and SIGTERM (or `signals`) shut down with exit code 0. So does losing the parent: a
   * wrapper killed by a signal it did not pass on (a shell between npm and this script) leaves
   * this process orphaned, and nobody would stop the children then. (package.json's scripts
   * `exec` this script, so npm's signals reach it directly.)
   */
  function handleSignals(signals = ['SIGINT', 'SIGTERM']) {
    const parentPid = process.ppid;
    setInterval(() => {
      if (process.ppid !== parentPid && !stopping) {
        say(`the parent process ${parentPid} is gone: stopping.`);
        void shutdown(0);
      }
    }, 500).unref();
    let firstAt = 0;
    for (const signal of signals) {
      process.on(signal, () => {
        if (!stopping) {
          firstAt = Date.now();
          void shutdown(0);
        } else if (Date.now() - firstAt > 1_000) {
          // (a Ctrl-C reaches npm too, which forwards it at once: only later ones are the user's)
          say(`${signal}: already stopping, please wait.`);
        }
      });
    }
  }

  return {
    start,
    shutdown,
    handleSignals,
    get isStopping() {
      return stopping;
    },
  };
}
