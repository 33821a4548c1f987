#!/usr/bin/env node
// `npm run events -w @hearth/bench [-- --clients N --events N]`: one Manager (PGlite, or PostgreSQL at
// DATABASE_URL; no Agent, no root) with a long event log, then N stream clients that resume from Last-Event-ID: 0 and
// never read. Prints the Manager's RSS and the latency of GET /v1/vms as the clients connect, and how
// many were refused (429) over the stream cap. Numbers to read, not a pass/fail test.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort, joinAsAgent, managerMain, managerNodeFlags, startProcess, waitFor } from '@hearth/testkit';
import { rssMib } from './machine.js';

interface Options {
  readonly clients: number;
  readonly events: number;
}

function parseArgs(argv: readonly string[]): Options {
  const value = (name: string, fallback: number): number => {
    const index = argv.indexOf(`--${name}`);
    if (index === -1) return fallback;
    const parsed = Number(argv[index + 1]);
    if (!Number.isInteger(parsed) || parsed < 0) throw new Error(`--${name} needs a whole number`);
    return parsed;
  };
  return { clients: value('clients', 400), events: value('events', 8_200) };
}

const hostBody = (name: string, lane: number) => ({
  agentId: `agent_01J0000000000000000000000${lane}`,
  name,
  addr: 'https://127.0.0.1:9',
  capacity: { cpuCount: 1, memoryMibTotal: 1024, memoryMibAvailable: 1000, vmCount: 0 },
  facts: {
    agentVersion: '0.1.0',
    isKvmUsable: true,
    hasFirecracker: true,
    firecrackerBinary: '/bin/true',
    isBridgeUp: true,
    bridge: 'hbr0',
    spawnMode: 'direct',
  },
});

/** The admin API token the bench's Manager made at its first start (read once it is ready). */
let token = '';
const asAdmin = (): Record<string, string> => ({ authorization: `Bearer ${token}` });

/** A POST as the admin, or with `headers` in its place (an Agent's credential). */
async function post(
  base: string,
  route: string,
  body?: unknown,
  headers: Readonly<Record<string, string>> = asAdmin(),
): Promise<{ id?: string }> {
  const response = await fetch(`${base}${route}`, {
    method: 'POST',
    headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return (await response.json()) as { id?: string };
}

/** A client that asks for the stream from the start and reads nothing; answers its status line. */
function nonReadingClient(base: URL): Promise<{ socket: net.Socket; status: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(base.port), base.hostname);
    socket.once('data', (chunk: Buffer) => {
      socket.pause();
      resolve({ socket, status: chunk.toString('latin1', 9, 12) });
    });
    socket.once('error', reject);
    socket.write(
      `GET /v1/events/stream HTTP/1.1\r\nHost: ${base.host}\r\nAuthorization: Bearer ${token}\r\nLast-Event-ID: 0\r\n\r\n`,
    );
  });
}

async function listLatencyMs(base: string): Promise<number> {
  const started = performance.now();
  await (await fetch(`${base}/v1/vms`, { headers: asAdmin() })).text();
  return performance.now() - started;
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'hearth-bench-events-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const manager = startProcess([process.execPath, ...managerNodeFlags(), managerMain], {
    env: {
      MANAGER_BIND: `127.0.0.1:${port}`,
      // PostgreSQL when DATABASE_URL is set (e.g. the throwaway one of `npm run bench`), else embedded PGlite.
      DATABASE_URL: process.env['DATABASE_URL'],
      MANAGER_DATA_DIR: path.join(workDir, 'db'),
      MANAGER_IMAGE_ROOT: workDir,
      MANAGER_RECONCILER_DISABLED: 'on',
      // The event log is made by thousands of cordons a minute: this bench is about streams, not the rate limit.
      MANAGER_RATE_LIMIT_PER_MINUTE: '1000000000',
      MANAGER_LOG_LEVEL: 'warn',
      MANAGER_HEARTBEAT_MS: '600000',
      MANAGER_EVENT_STREAMS_PER_CLIENT: String(Math.max(1, options.clients)),
      MANAGER_EVENT_STREAMS_MAX: String(Math.max(1, options.clients)),
    },
    logFile: path.join(workDir, 'manager.log'),
  });
  const sockets: net.Socket[] = [];
  try {
    await waitFor(async () => (await fetch(`${base}/readyz`)).ok, {
      timeoutMs: 300_000,
      description: () => `the manager is ready\n${manager.output()}`,
    });
    token = readFileSync(path.join(workDir, 'db', 'admin-token'), 'utf8').trim();
    const lanes = await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        const body = hostBody(`lane-${i}`, i);
        return (await post(base, '/v1/hosts/register', body, await joinAsAgent(base, body.agentId, { headers: asAdmin() }))).id!;
      }),
    );
    const seedStarted = performance.now();
    await Promise.all(
      lanes.map(async (hostId) => {
        for (let i = 0; i < Math.ceil(options.events / 2 / lanes.length); i += 1) {
          await post(base, `/v1/hosts/${hostId}/cordon`);
          await post(base, `/v1/hosts/${hostId}/uncordon`);
        }
      }),
    );
    console.log(`${options.events} events written in ${((performance.now() - seedStarted) / 1000).toFixed(1)} s`);
    const pid = manager.child.pid;
    console.log('clients  RSS MiB  GET /v1/vms ms  refused (429)');
    const report = async (clients: number, refused: number): Promise<void> => {
      const latencies = [await listLatencyMs(base), await listLatencyMs(base), await listLatencyMs(base)];
      console.log(
        `${String(clients).padStart(7)}  ${(rssMib(pid) ?? Number.NaN).toFixed(0).padStart(7)}  ${latencies
          .map((ms) => ms.toFixed(0))
          .join('/')
          .padStart(14)}  ${refused}`,
      );
    };
    await report(0, 0);
    let refused = 0;
    const steps = [0.25, 0.5, 1].map((share) => Math.round(options.clients * share));
    for (const target of steps) {
      const opened = await Promise.all(Array.from({ length: target - sockets.length }, () => nonReadingClient(new URL(base))));
      for (const client of opened) {
        sockets.push(client.socket);
        if (client.status === '429') refused += 1;
      }
      await report(sockets.length, refused);
    }
    const extra = await nonReadingClient(new URL(base));
    sockets.push(extra.socket);
    console.log(`one more client over the cap: HTTP ${extra.status}`);
  } finally {
    for (const socket of sockets) socket.destroy();
    await manager.stop();
    rmSync(workDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.exit(1);
});
