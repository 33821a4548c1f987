import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNetns, hasCommand, isRoot, managerNodeFlags, startProcess, waitFor, type Netns } from '@hearth/testkit';

const mainJs = fileURLToPath(new URL('../dist/main.js', import.meta.url));
/** Given as every launcher gives them (ADR 0011). */
const nodeFlags = managerNodeFlags(mainJs);
const isBuilt = existsSync(mainJs);

const notBuilt = isBuilt ? undefined : 'needs `npx tsc -b`';

describe.skipIf(notBuilt)(`manager process: configuration${notBuilt ? ` (skipped: ${notBuilt})` : ''}`, () => {
  it('exits with status 2 listing every invalid variable, before opening a socket', async () => {
    const manager = startProcess(['node', ...nodeFlags, mainJs], {
      env: { MANAGER_BIND: 'nowhere', MANAGER_ENABLE_METRICS: 'maybe', DATABASE_URL: undefined },
    });
    try {
      const exit = await manager.exited;
      expect(exit.code).toBe(2);
      expect(manager.output()).toContain('MANAGER_BIND');
      expect(manager.output()).toContain('MANAGER_ENABLE_METRICS');
    } finally {
      await manager.stop();
    }
  });
});

const missing = [notBuilt, isRoot ? undefined : 'needs root', hasCommand('ip') ? undefined : 'needs iproute2'].filter(
  (why) => why !== undefined,
);
const netnsSkipReason = missing.length === 0 ? undefined : missing.join(', ');

describe.skipIf(netnsSkipReason)(`manager process on PGlite${netnsSkipReason ? ` (skipped: ${netnsSkipReason})` : ''}`, () => {
  let netns: Netns;
  let dir: string;
  let manager: ReturnType<Netns['spawn']>;
  let output = '';
  const base = 'http://127.0.0.1:8080';
  let adminToken = '';

  /** One HTTP request made from inside the namespace. */
  async function call(
    method: string,
    path: string,
    body?: unknown,
    token = adminToken,
  ): Promise<{ status: number; json: unknown }> {
    const script = `
      const [method, url, body, token] = process.argv.slice(1);
      const headers = token ? { authorization: 'Bearer ' + token } : {};
      if (body) headers['content-type'] = 'application/json';
      const init = { method, headers, body: body || undefined };
      fetch(url, init).then(async (r) => console.log(JSON.stringify({ status: r.status, text: await r.text() })))
        .catch((e) => { console.log(JSON.stringify({ status: 0, text: String(e) })); });`;
    const { stdout } = await netns.exec([
      'node',
      '-e',
      script,
      method,
      `${base}${path}`,
      body === undefined ? '' : JSON.stringify(body),
      token,
    ]);
    const result = JSON.parse(stdout) as { status: number; text: string };
    let json: unknown;
    try {
      json = JSON.parse(result.text);
    } catch {
      json = result.text;
    }
    return { status: result.status, json };
  }

  beforeAll(async () => {
    netns = await createNetns();
    dir = await mkdtemp(join(tmpdir(), 'hearth-manager-e2e-'));
    const kernel = Buffer.alloc(4096);
    kernel.set([0x7f, 0x45, 0x4c, 0x46]);
    await writeFile(join(dir, 'vmlinux'), kernel);
    manager = netns.spawn(['node', ...nodeFlags, mainJs], {
      env: {
        ...process.env,
        DATABASE_URL: '',
        MANAGER_DATA_DIR: join(dir, 'data'),
        MANAGER_IMAGE_ROOT: dir,
        MANAGER_BIND: '127.0.0.1:8080',
        MANAGER_LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    manager.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    manager.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    // PGlite creates and migrates its database in WebAssembly: seconds, many more on a loaded machine.
    await waitFor(async () => (await call('GET', '/readyz')).status === 200, { timeoutMs: 120_000, intervalMs: 250 });
    adminToken = (await readFile(join(dir, 'data', 'admin-token'), 'utf8')).trim();
  }, 150_000);

  afterAll(async () => {
    await netns?.destroy();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('answers /readyz once migrated', async () => {
    expect(await call('GET', '/readyz')).toEqual({ status: 200, json: { status: 'ready' } });
  });

  it('makes an admin token at first start: printed once, kept in a file only its user can read', async () => {
    expect(adminToken).toMatch(/^hth_[A-Za-z0-9_-]{43}$/);
    expect((await stat(join(dir, 'data', 'admin-token'))).mode & 0o777).toBe(0o600);
    expect(output.split(adminToken)).toHaveLength(2);
    expect(await call('GET', '/v1/whoami')).toMatchObject({ status: 200, json: { tokenName: 'admin', projects: ['*'] } });
    expect(await call('GET', '/v1/vms', undefined, '')).toMatchObject({ status: 401, json: { code: 'UNAUTHENTICATED' } });
  });

  it('registers an image, and refuses a host whose Agent has not joined', async () => {
    const image = await call('POST', '/v1/images', { kind: 'kernel', name: 'vmlinux', hostPath: 'vmlinux' });
    expect(image.status).toBe(201);
    const host = await call('POST', '/v1/hosts/register', {
      name: 'node-a',
      agentId: 'agent_01J00000000000000000000001',
      addr: 'https://127.0.0.1:9090',
      capacity: { cpuCount: 2, memoryMibTotal: 2048, memoryMibAvailable: 2000, vmCount: 0 },
      facts: {
        agentVersion: '0.1.0',
        isKvmUsable: false,
        hasFirecracker: false,
        firecrackerBinary: 'firecracker',
        isBridgeUp: false,
        bridge: 'hearth0',
        spawnMode: 'direct',
      },
    });
    expect(host).toMatchObject({ status: 401, json: { code: 'HOST_CREDENTIAL_INVALID' } });
  });

  it('keeps the cluster CA key sealed under a key-encryption key made 0600 in its data directory', async () => {
    expect(await call('POST', '/v1/hosts/join-tokens', undefined, '')).toMatchObject({ status: 401 });
    expect(await call('POST', '/v1/hosts/join-tokens')).toMatchObject({ status: 201 });
    expect((await stat(join(dir, 'data', 'ca-kek.key'))).mode & 0o777).toBe(0o600);
  });

  it('stops cleanly on SIGTERM', async () => {
    const exited = new Promise<number | null>((resolve) => manager.once('exit', (code) => resolve(code)));
    manager.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(output).not.toMatch(/"level":(50|60)/);
  });
});
