import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missingRequirements, writeEmptyExt4, writeFakeKernel } from '@hearth/testkit';
import { Hearth, HearthError, isHearthError, VmWaitError, type CreateVmRequest, type HearthEvent } from '@hearth/sdk';
import { startStack, type Stack } from './support/stack.js';

const skipReason = missingRequirements({ root: true, database: true, commands: ['ip', 'mkfs.ext4'] });

/** A TCP proxy to the Manager whose connections the test can cut, and which refuses new ones while it is down. */
interface CuttableProxy {
  readonly url: string;
  /** Every `Last-Event-ID` a request through the proxy carried. */
  readonly lastEventIds: string[];
  /** Destroys every open connection and refuses new ones until `up()`. */
  down(): void;
  up(): void;
  close(): Promise<void>;
}

async function startProxy(target: URL): Promise<CuttableProxy> {
  const sockets = new Set<net.Socket>();
  const lastEventIds: string[] = [];
  let isDown = false;
  const server = net.createServer((client) => {
    if (isDown) return client.destroy();
    const upstream = net.connect(Number(target.port), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
    }
    client.on('data', (chunk: Buffer) => {
      const match = /\r\nlast-event-id: *(\d+)\r\n/i.exec(chunk.toString('latin1'));
      if (match !== null) lastEventIds.push(match[1]!);
    });
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    lastEventIds,
    down() {
      isDown = true;
      for (const socket of sockets) socket.destroy();
    },
    up() {
      isDown = false;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

describe.skipIf(skipReason)(`the SDK against real processes${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let stack: Stack;
  let hearth: Hearth;
  let images: Pick<CreateVmRequest, 'kernelImageId' | 'rootfsImageId'>;
  const vm = (name: string): CreateVmRequest => ({ name, vcpuCount: 1, memoryMib: 128, ...images });

  beforeAll(async () => {
    stack = await startStack();
    hearth = new Hearth({ baseUrl: stack.managerUrl, token: stack.adminToken });
    writeFakeKernel(path.join(stack.imageRoot, 'vmlinux'));
    writeEmptyExt4(path.join(stack.imageRoot, 'base.ext4'));
    const kernel = await hearth.images.register({ kind: 'kernel', name: 'vmlinux', hostPath: 'vmlinux' });
    const rootfs = await hearth.images.register({ kind: 'rootfs', name: 'base', hostPath: 'base.ext4' });
    images = { kernelImageId: kernel.id, rootfsImageId: rootfs.id };
  }, 60_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('creates a VM that runs, with the time of each host step, finds it by name, reads its boot log, and deletes it', async () => {
    const created = await hearth.vms.create(vm('sdk-1'));
    expect(created.state).toBe('running');
    expect(created.steps.length).toBeGreaterThan(0);
    expect(created.steps.every((step) => step.durationMs >= 0)).toBe(true);
    expect((await hearth.vms.findByName('sdk-1')).map((v) => v.id)).toEqual([created.id]);
    expect(await hearth.vms.findByName('sdk')).toEqual([]);
    const bootLog = await hearth.vms.consoleLog(created.id);
    expect(bootLog).toMatch(/Linux version .*\r\nCommand line: console=ttyS0 /);
    expect(await hearth.vms.consoleLog(created.id, { bytes: 7 })).toBe('login: ');
    const tooMuch = await hearth.vms.consoleLog(created.id, { bytes: 2 * 1024 * 1024 }).catch((error: unknown) => error);
    expect(isHearthError(tooMuch, 'VALIDATION_FAILED')).toBe(true);
    const walled = await hearth.vms.setEgress(created.id, { mode: 'deny_all' }, { ifVersion: created.version });
    expect(walled).toMatchObject({ egress: { mode: 'deny_all' }, version: created.version + 1 });
    const stale = await hearth.vms
      .setEgress(created.id, { mode: 'allow_all' }, { ifVersion: created.version })
      .catch((e: unknown) => e);
    expect(isHearthError(stale, 'PRECONDITION_FAILED')).toBe(true);
    const deleted = await hearth.vms.delete(created.id);
    expect(deleted.id).toBe(created.id);
    const consoleGone = await hearth.vms.consoleLog(created.id).catch((error: unknown) => error);
    expect(isHearthError(consoleGone, 'VM_NOT_FOUND')).toBe(true);
    const gone = await hearth.vms.get(created.id).catch((error: unknown) => error);
    expect(isHearthError(gone, 'VM_NOT_FOUND')).toBe(true);
    expect((gone as HearthError).status).toBe(404);
    expect((gone as HearthError).correlationId).toMatch(/.+/);
  });

  it('creates a VM without waiting, then waits for it to run', async () => {
    const pending = await hearth.vms.create(vm('sdk-2'), { wait: false });
    expect(pending.state).toBe('pending');
    const running = await hearth.vms.waitFor(pending.id, 'running', { timeoutMs: 30_000 });
    expect(running).toMatchObject({ id: pending.id, state: 'running' });
    const waited = await hearth.vms.waitFor(pending.id, 'stopped', { timeoutMs: 1_000 }).catch((error: unknown) => error);
    expect(waited).toBeInstanceOf(VmWaitError);
    expect(waited).toMatchObject({ outcome: 'timed_out', vm: { state: 'running' } });
  });

  it('refuses a mutation with a stale version as PRECONDITION_FAILED, and applies it with the current one', async () => {
    const created = await hearth.vms.create(vm('sdk-3'));
    const stale = await hearth.vms.stop(created.id, { ifVersion: created.version - 1 }).catch((error: unknown) => error);
    expect(isHearthError(stale, 'PRECONDITION_FAILED')).toBe(true);
    expect((await hearth.vms.get(created.id)).state).toBe('running');
    const stopped = await hearth.vms.stop(created.id, { ifVersion: created.version });
    expect(stopped.state).toBe('stopped');
    expect((await hearth.vms.start(created.id)).state).toBe('running');
  });

  it('sends an Idempotency-Key with every POST, so that a create retried by the SDK is made once', async () => {
    const keys: Array<string | null> = [];
    let isFirstAnswerLost = true;
    const flaky = new Hearth({
      baseUrl: stack.managerUrl,
      token: stack.adminToken,
      retryDelayMs: 1,
      // The first create reaches the Manager, but its answer is lost on the way back.
      fetch: async (input, init) => {
        const request = new Request(input, init);
        keys.push(request.headers.get('idempotency-key'));
        const response = await fetch(request);
        if (request.method === 'POST' && isFirstAnswerLost) {
          isFirstAnswerLost = false;
          await response.body?.cancel();
          throw new TypeError('fetch failed');
        }
        return response;
      },
    });
    const created = await flaky.vms.create(vm('sdk-4'));
    expect(keys).toHaveLength(2);
    expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(keys[1]).toBe(keys[0]);
    expect((await hearth.vms.findByName('sdk-4')).map((v) => v.id)).toEqual([created.id]);
  });

  it('pages through every VM with an async iterator', async () => {
    const all: string[] = [];
    for await (const listed of hearth.vms.list({ pageSize: 1 })) all.push(listed.id);
    const onePage: string[] = [];
    for await (const listed of hearth.vms.list()) onePage.push(listed.id);
    expect(all.length).toBeGreaterThanOrEqual(3);
    expect(all).toEqual(onePage);
    expect(new Set(all).size).toBe(all.length);
  });

  it('streams events and, after a dropped connection, resumes with Last-Event-ID without losing or repeating one', async () => {
    const proxy = await startProxy(new URL(stack.managerUrl));
    const abort = new AbortController();
    const reconnects: unknown[] = [];
    try {
      const since = Math.max(0, ...(await collect(hearth.eventLog())).map((e) => e.id));
      const viaProxy = new Hearth({ baseUrl: proxy.url, token: stack.adminToken });
      const stream = viaProxy.events({ since, signal: abort.signal, onReconnect: (reason) => reconnects.push(reason) });
      const received: HearthEvent[] = [];
      const runningOf = async (id: string): Promise<void> => {
        for (;;) {
          const next = await stream.next();
          if (next.done === true) throw new Error('the event stream ended');
          received.push(next.value);
          if (next.value.vmId === id && next.value.toState === 'running') return;
        }
      };
      const first = await hearth.vms.create(vm('sdk-5'));
      await runningOf(first.id);

      proxy.down();
      const second = await hearth.vms.create(vm('sdk-6'));
      proxy.up();
      await runningOf(second.id);
      abort.abort();

      expect(reconnects.length).toBeGreaterThan(0);
      // The first request asked for the events after `since`; the one after the drop, for those after the last received.
      expect(proxy.lastEventIds[0]).toBe(String(since));
      expect(proxy.lastEventIds.length).toBeGreaterThanOrEqual(2);
      expect(received.map((e) => e.id)).toContain(Number(proxy.lastEventIds.at(-1)));
      const logged = (await collect(hearth.eventLog())).map((e) => e.id);
      const through = received.at(-1)!.id;
      expect(received.map((e) => e.id)).toEqual(logged.filter((id) => id > since && id <= through));
      expect(received.some((e) => e.vmId === second.id && e.toState === 'pending')).toBe(true);
    } finally {
      abort.abort();
      await proxy.close();
    }
  });
});

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}
