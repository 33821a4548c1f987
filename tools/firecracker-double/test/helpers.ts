/** Test helpers: spawn the built binary, talk raw HTTP over its Unix socket, clean up. */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PKG_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_ROOT = resolve(PKG_ROOT, '../..');
export const BIN = join(PKG_ROOT, 'bin', 'firecracker-double.cjs');

const cleanups: Array<() => void> = [];

/** Runs every registered cleanup (call from afterEach/afterAll). */
export function cleanupAll(): void {
  while (cleanups.length > 0) {
    try {
      (cleanups.pop() as () => void)();
    } catch {
      /* best effort */
    }
  }
}

export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fcd-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A file that starts with the ELF magic, accepted as a kernel by the simulated backend. */
export function fakeKernel(dir: string, name = 'vmlinux'): string {
  const p = join(dir, name);
  writeFileSync(p, Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46]), Buffer.alloc(60)]));
  return p;
}

export function fakeFile(dir: string, name: string, content: string | Buffer = Buffer.alloc(1024)): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}

export async function until<T>(
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 5000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v as T;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export interface Proc {
  child: ChildProcess;
  dir: string;
  sock: string;
  stdout(): string;
  stderr(): string;
  exited(): { code: number | null; signal: NodeJS.Signals | null } | undefined;
  waitExit(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface SpawnOpts {
  /** Do not add `--api-sock <dir>/api.sock`. */
  noSock?: boolean;
  env?: Record<string, string>;
  dir?: string;
  waitReady?: boolean;
  /** Give the process a stdin pipe (`child.stdin`) instead of /dev/null. */
  stdinPipe?: boolean;
}

export function spawnDouble(args: string[] = [], opts: SpawnOpts = {}): Proc {
  const dir = opts.dir ?? tempDir();
  const sock = join(dir, 'api.sock');
  const full = opts.noSock ? args : ['--api-sock', sock, ...args];
  const child = spawn(process.execPath, [BIN, ...full], {
    cwd: dir,
    env: { ...process.env, FC_DOUBLE_SKIP_TAP_CHECK: '1', ...opts.env },
    stdio: [opts.stdinPipe === true ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exitPromise = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
    child.on('exit', (code, signal) => {
      exit = { code, signal };
      res(exit);
    }),
  );
  cleanups.push(() => {
    if (exit === undefined) child.kill('SIGKILL');
  });
  return {
    child,
    dir,
    sock,
    stdout: () => out,
    stderr: () => err,
    exited: () => exit,
    waitExit: async (timeoutMs = 5000) => {
      const t = new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`no exit; stdout:\n${out}`)), timeoutMs).unref());
      return Promise.race([exitPromise, t]);
    },
  };
}

/** Spawns and waits until the API socket accepts connections. */
export async function startDouble(args: string[] = [], opts: SpawnOpts = {}): Promise<Proc & { api: ApiClient }> {
  const p = spawnDouble(args, opts);
  // The socket file appears at bind(), slightly before listen(): wait until it accepts.
  await until(async () => p.exited() !== undefined || (existsSync(p.sock) && (await canConnect(p.sock))), 5000, 'api socket');
  if (p.exited()) throw new Error(`exited early: ${p.stdout()}${p.stderr()}`);
  const api = new ApiClient(p.sock);
  cleanups.push(() => api.close());
  return { ...p, api };
}

export function canConnect(path: string): Promise<boolean> {
  return new Promise((res) => {
    const s = connect(path, () => {
      s.destroy();
      res(true);
    });
    s.on('error', () => res(false));
  });
}

export interface Resp {
  status: number;
  headers: Array<[string, string]>;
  body: string;
  raw: Buffer;
  // Response bodies are arbitrary JSON; tests index into them freely.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json(): any;
  header(name: string): string | undefined;
}

/** Splits complete HTTP responses off a buffer (Content-Length framing, none for 204/100). */
export function takeResponses(buf: Buffer): { responses: Resp[]; rest: Buffer } {
  const responses: Resp[] = [];
  for (;;) {
    const end = buf.indexOf('\r\n\r\n');
    if (end < 0) break;
    const head = buf.subarray(0, end).toString('latin1');
    const [statusLine, ...lines] = head.split('\r\n');
    const status = Number((statusLine ?? '').split(' ')[1]);
    const headers = lines.map((l) => {
      const i = l.indexOf(':');
      return [l.slice(0, i), l.slice(i + 1).trim()] as [string, string];
    });
    const len = Number(headers.find(([k]) => k.toLowerCase() === 'content-length')?.[1] ?? 0);
    if (buf.length < end + 4 + len) break;
    const raw = buf.subarray(0, end + 4 + len);
    const body = buf.subarray(end + 4, end + 4 + len).toString('utf8');
    responses.push({
      status,
      headers,
      body,
      raw: Buffer.from(raw),
      json: () => JSON.parse(body),
      header: (n) => headers.find(([k]) => k.toLowerCase() === n.toLowerCase())?.[1],
    });
    buf = buf.subarray(end + 4 + len);
  }
  return { responses, rest: buf };
}

/** Sends raw bytes on a fresh connection and collects `count` responses. */
export function rawExchange(sock: string, bytes: string | Buffer, count: number, timeoutMs = 3000): Promise<Resp[]> {
  return new Promise((resolvePromise, reject) => {
    const s = connect(sock);
    let buf: Buffer = Buffer.alloc(0);
    const got: Resp[] = [];
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`timeout; got ${got.length} responses, rest=${JSON.stringify(buf.toString())}`));
    }, timeoutMs);
    s.on('data', (d: Buffer) => {
      const r = takeResponses(Buffer.concat([buf, d]));
      got.push(...r.responses);
      buf = r.rest;
      if (got.length >= count) {
        clearTimeout(timer);
        s.destroy();
        resolvePromise(got);
      }
    });
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.write(bytes);
  });
}

export function requestBytes(method: string, path: string, body?: unknown): Buffer {
  const payload = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
  const len = Buffer.byteLength(payload);
  return Buffer.from(`${method} ${path} HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: ${len}\r\n\r\n${payload}`);
}

/** One persistent keep-alive connection; calls are sequential. */
export class ApiClient {
  private sockP: ReturnType<typeof connect> | undefined;
  private buf: Buffer = Buffer.alloc(0);
  private waiters: Array<(r: Resp) => void> = [];

  constructor(readonly path: string) {}

  private sock(): ReturnType<typeof connect> {
    if (this.sockP && !this.sockP.destroyed) return this.sockP;
    const s = connect(this.path);
    s.on('data', (d: Buffer) => {
      const r = takeResponses(Buffer.concat([this.buf, d]));
      this.buf = r.rest;
      for (const resp of r.responses) this.waiters.shift()?.(resp);
    });
    s.on('error', () => undefined);
    this.sockP = s;
    return s;
  }

  call(method: string, path: string, body?: unknown, timeoutMs = 5000): Promise<Resp> {
    return new Promise((res, rej) => {
      const t = setTimeout(() => rej(new Error(`timeout ${method} ${path}`)), timeoutMs);
      this.waiters.push((r) => {
        clearTimeout(t);
        res(r);
      });
      this.sock().write(requestBytes(method, path, body));
    });
  }

  get = (p: string) => this.call('GET', p);
  put = (p: string, b: unknown) => this.call('PUT', p, b);
  patch = (p: string, b: unknown) => this.call('PATCH', p, b);
  del = (p: string) => this.call('DELETE', p);

  close(): void {
    this.sockP?.destroy();
  }
}

export function fault(r: Resp): string {
  return (r.json() as { fault_message: string }).fault_message;
}

/** Configures kernel + root drive (+ optional machine config) on a fresh double. */
export async function basicConfig(api: ApiClient, dir: string): Promise<{ kernel: string; rootfs: string }> {
  const kernel = fakeKernel(dir);
  const rootfs = fakeFile(dir, 'rootfs.ext4');
  for (const [p, b] of [
    ['/machine-config', { vcpu_count: 2, mem_size_mib: 256 }],
    ['/boot-source', { kernel_image_path: kernel, boot_args: 'console=ttyS0 reboot=k panic=1' }],
    ['/drives/rootfs', { drive_id: 'rootfs', path_on_host: rootfs, is_root_device: true, is_read_only: false }],
  ] as const) {
    const r = await api.put(p, b);
    if (r.status !== 204) throw new Error(`${p}: ${r.status} ${r.body}`);
  }
  return { kernel, rootfs };
}

export async function boot(api: ApiClient, dir: string): Promise<void> {
  await basicConfig(api, dir);
  const r = await api.put('/actions', { action_type: 'InstanceStart' });
  if (r.status !== 204) throw new Error(`InstanceStart: ${r.status} ${r.body}`);
}
