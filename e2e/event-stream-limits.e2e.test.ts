import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createCleanupStack,
  createManagerProcess,
  createTestDatabase,
  joinAsAgent,
  missingRequirements,
  parsePrometheusText,
  sampleValue,
  waitFor,
  writeEmptyExt4,
  writeFakeKernel,
  type ManagerProcess,
} from '@hearth/testkit';
import { request } from './support/http.js';

/**
 * One Manager process on PostgreSQL with a long event log, and hundreds of stream clients that
 * resume from `Last-Event-ID: 0` and never read: the Manager writes no more than a connection
 * takes, so its memory stays bounded and `GET /v1/vms` stays fast, and over the caps it answers
 * 429. No Agent is needed. On loopback the kernel takes a few MB per connection, the whole log of
 * those tests; the last one makes the log far larger than that, so that a client that does not
 * read fills its connection, and a second Manager drops it.
 */
const skipReason = missingRequirements({ database: true, commands: ['mkfs.ext4'] });

const clientCount = 400;
const eventCount = 8_200;
const waitsPerClient = 3;

function rssMib(pid: number): number {
  const line = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return line === null ? Number.NaN : Number(line[1]) / 1024;
}

/** A stream client that sends its request, reads the first chunk (the 200 header) and then nothing more. */
function nonReadingClient(url: URL, token: string): Promise<{ socket: net.Socket; head: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(url.port), url.hostname, () => {
      socket.write(
        `GET /v1/events/stream HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${token}\r\n` +
          'Last-Event-ID: 0\r\nAccept: text/event-stream\r\n\r\n',
      );
    });
    socket.once('data', (chunk: Buffer) => {
      socket.pause();
      resolve({ socket, head: chunk.toString('latin1', 0, 40) });
    });
    socket.once('error', reject);
  });
}

/** Opens a stream and closes it at once: its status, Retry-After and (for a problem) its body. */
async function probeStream(base: string, token: string): Promise<{ status: number; retryAfter: string | null; body: unknown }> {
  const abort = new AbortController();
  const response = await fetch(`${base}/v1/events/stream`, {
    headers: { authorization: `Bearer ${token}` },
    signal: abort.signal,
  });
  const body = response.status === 200 ? undefined : await response.json();
  abort.abort();
  return { status: response.status, retryAfter: response.headers.get('retry-after'), body };
}

async function timedMs(action: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await action();
  return performance.now() - started;
}

describe.skipIf(skipReason)(`event streams of slow clients${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  const cleanups = createCleanupStack('event-stream-limits');
  let manager: ManagerProcess;
  let token = '';
  let pid: number;
  let images: { kernelImageId: string; rootfsImageId: string };
  let workDir: string;
  let databaseUrl: string;
  const api = <T = unknown>(method: string, route: string, body?: unknown, headers?: Record<string, string>) =>
    request<T>(manager.url, method, route, body, headers ?? { authorization: `Bearer ${token}` });

  beforeAll(async () => {
    await cleanups.unwindOnError(async () => {
      workDir = mkdtempSync(path.join(os.tmpdir(), 'hearth-event-limits-'));
      cleanups.push(() => rmSync(workDir, { recursive: true, force: true }));
      const database = await createTestDatabase();
      cleanups.push(() => database.drop());
      databaseUrl = database.url;
      const imageRoot = path.join(workDir, 'images');
      manager = await createManagerProcess({
        databaseUrl: database.url,
        imageRoot,
        logFile: path.join(workDir, 'manager.log'),
        env: {
          MANAGER_RECONCILER_DISABLED: 'on',
          MANAGER_REQUIRE_KVM: 'off',
          MANAGER_HEARTBEAT_MS: '600000',
          MANAGER_LOG_LEVEL: 'warn',
          MANAGER_EVENT_STREAMS_PER_CLIENT: String(clientCount),
          MANAGER_EVENT_STREAMS_MAX: String(clientCount),
          MANAGER_VM_WAITS_PER_CLIENT: String(waitsPerClient),
          // The event log is made by thousands of cordons a minute: this test is about streams, not the rate limit.
          MANAGER_RATE_LIMIT_PER_MINUTE: '1000000000',
        },
      });
      await manager.start();
      cleanups.push(() => manager.stop());
      token = await manager.adminToken();
      pid = manager.process.child.pid!;

      // A host whose "Agent" accepts connections and never answers (not even the TLS handshake): the
      // VM created on it stays `starting` (the reconciler is off), so waits for `running` stay pending.
      const silentConnections = new Set<net.Socket>();
      const silentAgent = net.createServer((socket) => silentConnections.add(socket));
      await new Promise<void>((resolve) => silentAgent.listen(0, '127.0.0.1', resolve));
      cleanups.push(() => {
        silentAgent.close();
        for (const socket of silentConnections) socket.destroy();
      });
      const silentPort = (silentAgent.address() as net.AddressInfo).port;
      // Not one of the lanes' identities below (an identity joins once).
      const silentAgentId = 'agent_01J0000000000000000000000Z';
      const host = await api<{ id: string }>(
        'POST',
        '/v1/hosts/register',
        {
          name: 'node-a',
          agentId: silentAgentId,
          addr: `https://127.0.0.1:${silentPort}`,
          capacity: { cpuCount: 4, memoryMibTotal: 8192, memoryMibAvailable: 8000, vmCount: 0 },
          facts: {
            agentVersion: '0.1.0',
            isKvmUsable: true,
            hasFirecracker: true,
            firecrackerBinary: '/bin/true',
            isBridgeUp: true,
            bridge: 'hbr0',
            spawnMode: 'direct',
          },
        },
        await joinAsAgent(manager.url, silentAgentId, { headers: { authorization: `Bearer ${token}` } }),
      );
      expect(host.status).toBe(200);
      writeFakeKernel(path.join(imageRoot, 'vmlinux'));
      writeEmptyExt4(path.join(imageRoot, 'rootfs.ext4'));
      const kernel = await api<{ id: string }>('POST', '/v1/images', { kind: 'kernel', name: 'k', hostPath: 'vmlinux' });
      const rootfs = await api<{ id: string }>('POST', '/v1/images', { kind: 'rootfs', name: 'r', hostPath: 'rootfs.ext4' });
      images = { kernelImageId: kernel.body.id, rootfsImageId: rootfs.body.id };

      // A long event log, as a cordon/uncordon loop makes it (8 lanes of one host each).
      const lanes = await Promise.all(
        Array.from({ length: 8 }, async (_, lane) => {
          const agentId = `agent_01J0000000000000000000000${lane}`;
          const registered = await api<{ id: string }>(
            'POST',
            '/v1/hosts/register',
            {
              name: `lane-${lane}`,
              agentId,
              addr: `https://127.0.0.1:${10 + lane}`,
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
            },
            await joinAsAgent(manager.url, agentId, { headers: { authorization: `Bearer ${token}` } }),
          );
          return registered.body.id;
        }),
      );
      await Promise.all(
        lanes.map(async (hostId) => {
          for (let i = 0; i < eventCount / 2 / lanes.length; i += 1) {
            await api('POST', `/v1/hosts/${hostId}/cordon`);
            await api('POST', `/v1/hosts/${hostId}/uncordon`);
          }
        }),
      );
    });
  }, 600_000);

  afterAll(async () => {
    await cleanups.run();
  }, 60_000);

  it('keeps memory bounded and GET /v1/vms fast under non-reading clients, and caps streams with 429', async () => {
    const log = await api<{ items: unknown[] }>('GET', '/v1/events?limit=1000');
    expect(log.body.items.length).toBe(Math.min(1000, eventCount));
    const baselineMib = rssMib(pid);
    const baselineListMs = await timedMs(() => api('GET', '/v1/vms'));

    const opened = await Promise.all(Array.from({ length: clientCount }, () => nonReadingClient(new URL(manager.url), token)));
    const clients = opened.map((client) => client.socket);
    try {
      expect(opened.filter((client) => client.head.startsWith('HTTP/1.1 200'))).toHaveLength(clientCount);
      // The overall cap is reached.
      const refused = await probeStream(manager.url, token);
      expect(refused).toMatchObject({ status: 429, retryAfter: '5', body: { code: 'EVENT_STREAM_LIMIT_REACHED' } });

      const listMs: number[] = [];
      let peakMib = rssMib(pid);
      for (let i = 0; i < 5; i += 1) {
        listMs.push(await timedMs(async () => expect((await api('GET', '/v1/vms')).status).toBe(200)));
        peakMib = Math.max(peakMib, rssMib(pid));
      }
      console.log(
        `${clientCount} non-reading clients: RSS ${baselineMib.toFixed(0)} → ${peakMib.toFixed(0)} MiB; ` +
          `GET /v1/vms ${baselineListMs.toFixed(0)} ms before, ${listMs.map((ms) => ms.toFixed(0)).join('/')} ms with them`,
      );
      expect(peakMib - baselineMib).toBeLessThan(150);
      expect(Math.max(...listMs)).toBeLessThan(2_000);
    } finally {
      for (const socket of clients) socket.destroy();
    }
    // Clients that go away give their slots back.
    await waitFor(async () => (await probeStream(manager.url, token)).status === 200, {
      timeoutMs: 10_000,
      description: 'stream slots given back',
    });
  }, 120_000);

  it('answers the wait over the per-client cap with 429 VM_WAIT_LIMIT_REACHED while the others wait', async () => {
    // Created now: its create hangs on the silent Agent's TLS handshake until the connect timeout (5 s).
    const vm = await api<{ id: string }>('POST', '/v1/vms?wait=false', { name: 'web', vcpuCount: 1, memoryMib: 128, ...images });
    expect(vm.status).toBe(202);
    const vmId = vm.body.id;
    const answers = await Promise.all(
      Array.from({ length: waitsPerClient + 1 }, () =>
        api<{ code?: string; outcome?: string }>('GET', `/v1/vms/${vmId}/wait?state=running&timeout_s=3`),
      ),
    );
    expect(answers.map((answer) => answer.body.outcome ?? answer.body.code).sort()).toEqual([
      'VM_WAIT_LIMIT_REACHED',
      ...Array<string>(waitsPerClient).fill('timed_out'),
    ]);
    const refused = answers.filter((answer) => answer.status === 429);
    expect(refused).toHaveLength(1);
    expect(refused[0]!.body.code).toBe('VM_WAIT_LIMIT_REACHED');
    expect(refused[0]!.headers.get('retry-after')).toBe('1');
  }, 30_000);

  it('drops a client that leaves its connection full, and frees what it held', async () => {
    // A log far larger than what the kernel buffers for one connection: the existing events, 8 times
    // again (about 20 MB as a stream).
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      await client.query(
        `INSERT INTO events (type, vm_id, host_id, project, at, from_state, to_state, message, object_id)
         SELECT type, vm_id, host_id, project, at, from_state, to_state, message, object_id
         FROM events CROSS JOIN generate_series(1, 8)`,
      );
    } finally {
      await client.end();
    }
    // A second replica on the same database that drops a client whose connection stays full for 1 s.
    const logFile = path.join(workDir, 'manager-strict.log');
    const strict = await createManagerProcess({
      databaseUrl,
      imageRoot: path.join(workDir, 'images'),
      logFile,
      dataDir: path.join(workDir, 'manager-strict-data'),
      env: {
        MANAGER_RECONCILER_DISABLED: 'on',
        MANAGER_REQUIRE_KVM: 'off',
        MANAGER_HEARTBEAT_MS: '600000',
        MANAGER_EVENT_STREAM_STALL_MS: '1000',
        // Replicas share the key that seals the cluster's CA in the database.
        MANAGER_CA_KEK_FILE: path.join(manager.dataDir, 'ca-kek.key'),
        MANAGER_RATE_LIMIT_PER_MINUTE: '1000000000',
      },
    });
    await strict.start();
    const streamClients = async (): Promise<number | undefined> => {
      const response = await fetch(`${strict.url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
      return sampleValue(parsePrometheusText(await response.text()), 'hearth_event_stream_clients', {});
    };
    let reader: net.Socket | undefined;
    try {
      const opened = await nonReadingClient(new URL(strict.url), token);
      reader = opened.socket;
      expect(opened.head).toMatch(/^HTTP\/1\.1 200/);
      await waitFor(async () => (await streamClients()) === 0, {
        timeoutMs: 20_000,
        description: 'the Manager drops the stream of a client that does not read',
      });
      expect(readFileSync(logFile, 'utf8')).toContain('event stream client dropped (too far behind)');

      // What the kernel held for it arrives, then the connection ends: the client resumes from there.
      const socket = reader;
      let received = 0;
      const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      socket.on('data', (chunk: Buffer) => (received += chunk.length));
      socket.on('error', () => undefined);
      socket.resume();
      await ended;
      const logBytes = 9 * eventCount * 150;
      expect(received).toBeLessThan(logBytes);
      console.log(
        `a client that did not read got ${(received / 1e6).toFixed(1)} MB of a log of at least ${(logBytes / 1e6).toFixed(0)} MB before it was dropped`,
      );
    } finally {
      reader?.destroy();
      await strict.stop();
    }
  }, 90_000);
});
