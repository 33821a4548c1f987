#!/usr/bin/env node
/**
 * The Agent's CPU per Firecracker API request through Node's HTTP client (the Agent's own
 * `HttpFirecrackerApi`) against undici (one keep-alive `Client` per VMM, as the Agent used it
 * before): the doubles answer in processes of their own, so only the client's CPU is counted
 * (`process.cpuUsage()` of this process). Rounds alternate between the two, each round a wave of
 * "applies" (the requests of one create, one after another on one VMM's socket, then its
 * connection released) over every double at once. Run it with the Agent's V8 flags:
 *
 *   node --semi-space-growth-factor=1 --optimize-for-size --no-opt bench/dist/firecracker-client-cpu.js [pairs] [doubles]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot, waitFor } from '@hearth/testkit';
import { Client } from 'undici';
import { HttpFirecrackerApi } from '../../apps/agent/dist/adapters/firecracker/http-firecracker-api.js';
import { percentile } from './stats.js';

/** The shape of what one apply asks of the API: GET / before and after, PUTs of small JSON bodies between (repeatable ones). */
const applyRequests: readonly { readonly method: 'GET' | 'PUT'; readonly path: string; readonly body?: unknown }[] = [
  { method: 'GET', path: '/' },
  { method: 'PUT', path: '/machine-config', body: { vcpu_count: 1, mem_size_mib: 128, track_dirty_pages: true } },
  { method: 'PUT', path: '/machine-config', body: { vcpu_count: 1, mem_size_mib: 128, track_dirty_pages: true } },
  { method: 'GET', path: '/machine-config' },
  { method: 'PUT', path: '/mmds', body: { latest: { 'meta-data': { 'instance-id': 'vm-1', hostname: 'vm-1' } } } },
  { method: 'PUT', path: '/machine-config', body: { vcpu_count: 1, mem_size_mib: 128, track_dirty_pages: true } },
  { method: 'PUT', path: '/mmds', body: { latest: { 'meta-data': { 'instance-id': 'vm-1', hostname: 'vm-1' } } } },
  { method: 'PUT', path: '/machine-config', body: { vcpu_count: 1, mem_size_mib: 128, track_dirty_pages: true } },
  { method: 'GET', path: '/' },
];

interface ClientUnderTest {
  readonly name: string;
  /** One apply's requests on one socket, then its connection closed as a VMM's release does. */
  apply(socketPath: string): Promise<void>;
  close(): Promise<void>;
}

function nodeHttpClient(): ClientUnderTest {
  const api = new HttpFirecrackerApi({ requestTimeoutMs: 30_000 });
  return {
    name: 'node:http',
    async apply(socketPath) {
      const client = api.client(socketPath);
      for (const request of applyRequests) {
        const answer = await client.forward({
          method: request.method,
          path: request.path.slice(1),
          contentType: request.body === undefined ? undefined : 'application/json',
          correlationId: undefined,
          body: request.body === undefined ? undefined : Buffer.from(JSON.stringify(request.body)),
        });
        if (answer.statusCode >= 300) throw new Error(`${request.method} ${request.path}: ${answer.statusCode}`);
      }
      await api.release(socketPath);
    },
    close: () => api.close(),
  };
}

function undiciClient(timeoutMs = 30_000): ClientUnderTest {
  return {
    name: 'undici',
    async apply(socketPath) {
      // As the Agent had it: one keep-alive connection per VM, requests one at a time.
      const client = new Client('http://localhost', {
        socketPath,
        pipelining: 1,
        keepAliveTimeout: 2_000,
        keepAliveMaxTimeout: 2_000,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      try {
        for (const request of applyRequests) {
          const body = request.body === undefined ? undefined : Buffer.from(JSON.stringify(request.body));
          const answer = await client.request({
            method: request.method,
            path: request.path,
            headers:
              body === undefined
                ? { accept: 'application/json' }
                : { accept: 'application/json', 'content-type': 'application/json' },
            body,
          });
          await answer.body.arrayBuffer();
          if (answer.statusCode >= 300) throw new Error(`${request.method} ${request.path}: ${answer.statusCode}`);
        }
      } finally {
        await client.close();
      }
    },
    close: () => Promise.resolve(),
  };
}

/** CPU milliseconds (user + system) of this process while `run` runs. */
async function cpuMsOf(run: () => Promise<void>): Promise<number> {
  const before = process.cpuUsage();
  await run();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000;
}

async function main(): Promise<void> {
  const pairs = Number(process.argv[2] ?? 10);
  const doubleCount = Number(process.argv[3] ?? 10);
  const applies = 3;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hearth-fc-client-cpu-'));
  const doubles: ChildProcess[] = [];
  try {
    const sockets = Array.from({ length: doubleCount }, (_, i) => path.join(dir, `vm-${i}.sock`));
    for (const socket of sockets) {
      doubles.push(
        spawn(
          process.execPath,
          [path.join(repoRoot, 'tools/firecracker-double/bin/firecracker-double.cjs'), '--api-sock', socket],
          {
            stdio: 'ignore',
          },
        ),
      );
    }
    const wave = async (client: ClientUnderTest): Promise<void> => {
      for (let i = 0; i < applies; i++) await Promise.all(sockets.map((socket) => client.apply(socket)));
    };
    const requestsPerRound = applies * doubleCount * applyRequests.length;
    const samples = new Map<string, number[]>([
      ['node:http', []],
      ['undici', []],
    ]);
    const clients = [nodeHttpClient(), undiciClient()];
    // A round of each first, once every double answers: code loaded and compiled (undici's WebAssembly parser).
    await waitFor(
      async () =>
        sockets.every((socket) => existsSync(socket)) &&
        (await wave(clients[0]!).then(
          () => true,
          () => false,
        )),
      { timeoutMs: 20_000, description: 'every double answers' },
    );
    await wave(clients[1]!);
    for (let pair = 0; pair < pairs; pair++) {
      // Alternated, the order flipped every pair: neither gains from running second.
      const order = pair % 2 === 0 ? clients : [...clients].reverse();
      for (const client of order) samples.get(client.name)!.push((await cpuMsOf(() => wave(client))) / requestsPerRound);
    }
    for (const client of clients) await client.close();
    const median = (name: string): number => percentile(samples.get(name)!, 50) ?? Number.NaN;
    const http = median('node:http');
    const undici = median('undici');
    process.stdout.write(
      `${pairs} alternated pairs, ${requestsPerRound} requests a round (${doubleCount} doubles × ${applies} applies × ${applyRequests.length} requests)\n` +
        `client CPU per request, median: node:http ${(http * 1000).toFixed(0)} µs, undici ${(undici * 1000).toFixed(0)} µs, ` +
        `node:http / undici ${(http / undici).toFixed(3)}\n` +
        `per pair (node:http, undici) µs: ${samples
          .get('node:http')!
          .map((value, i) => `${(value * 1000).toFixed(0)}/${((samples.get('undici')![i] ?? 0) * 1000).toFixed(0)}`)
          .join(' ')}\n`,
    );
  } finally {
    for (const child of doubles) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
