import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanupAll, spawnDouble, startDouble, tempDir, until } from './helpers.js';

afterEach(cleanupAll);

describe('CLI (behaviour.md#cli)', () => {
  it('--version prints the version and a blank line, exit 0', async () => {
    const p = spawnDouble(['--version'], { noSock: true });
    expect(await p.waitExit()).toEqual({ code: 0, signal: null });
    expect(p.stdout()).toBe('Firecracker v1.16.1\n\n');
  });

  it('--snapshot-version prints v10.0.0', async () => {
    const p = spawnDouble(['--snapshot-version'], { noSock: true });
    expect((await p.waitExit()).code).toBe(0);
    expect(p.stdout()).toBe('v10.0.0\n');
  });

  it('--help exits 0', async () => {
    const p = spawnDouble(['--help'], { noSock: true });
    expect((await p.waitExit()).code).toBe(0);
    expect(p.stdout()).toContain('--api-sock');
  });

  it.each([
    [['--api-sock=/tmp/x'], "Found argument 'api-sock=/tmp/x' which wasn't expected"],
    [['--bogus'], "Found argument 'bogus' which wasn't expected"],
    [['--id', 'a', '--id', 'b'], "The argument 'id' was provided more than once."],
    [['--id'], "The argument 'id' requires a value, but none was supplied."],
    [['--id', '--no-api'], "The argument 'id' requires a value"],
    [['--no-seccomp', '--seccomp-filter', 'x'], "Argument 'no-seccomp' cannot be used together with argument 'seccomp-filter'."],
    [['--no-api'], "Argument 'config-file' required"],
  ])('%j exits 153', async (args, msg) => {
    const p = spawnDouble(args, { noSock: true });
    expect((await p.waitExit()).code).toBe(153);
    expect(p.stdout()).toContain(`Arguments parsing error: ${msg}`);
    expect(p.stdout()).toContain(' \n\nFor more information try --help.');
    expect(p.stdout()).toContain('Firecracker exiting with error. exit_code=153');
  });

  it('invalid --level exits 152', async () => {
    const p = spawnDouble(['--level', 'loud']);
    expect((await p.waitExit()).code).toBe(152);
  });

  it.each([['bad!id'], ['x'.repeat(65)]])('invalid --id %s aborts (SIGABRT)', async (id) => {
    const p = spawnDouble(['--id', id]);
    const r = await p.waitExit();
    expect(r.signal).toBe('SIGABRT');
    expect(p.stderr()).toContain('Invalid instance ID');
  });

  it('logs startup lines and accepts a hyphenated id', async () => {
    const p = await startDouble(['--id', 'vm-1']);
    await until(() => p.stdout().includes('API server started.'), 3000, 'startup log');
    const lines = p.stdout().trim().split('\n');
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9} \[vm-1:main\] Running Firecracker v1\.16\.1$/);
    expect(p.stdout()).toContain(`Listening on API socket ("${p.sock}").`);
  });

  it('an existing socket path fails with exit 1 and is left in place', async () => {
    const dir = tempDir();
    const sock = join(dir, 'api.sock');
    writeFileSync(sock, '');
    const p = spawnDouble([], { dir });
    expect((await p.waitExit()).code).toBe(1);
    expect(p.stdout()).toContain(`Failed to open the API socket at: ${sock}. Check that it is not already used.`);
    expect(p.stdout()).toContain('Firecracker exiting with error. exit_code=1');
  });

  it('SIGTERM kills with the default disposition and leaves the socket', async () => {
    const p = await startDouble();
    p.child.kill('SIGTERM');
    expect((await p.waitExit()).signal).toBe('SIGTERM');
    const { existsSync } = await import('node:fs');
    expect(existsSync(p.sock)).toBe(true);
  });

  it('--log-path sends logs to the file with --show-level and --show-log-origin', async () => {
    const dir = tempDir();
    const log = join(dir, 'fc.log');
    const p = await startDouble(['--log-path', log, '--show-level', '--show-log-origin', '--level', 'Debug'], { dir });
    await p.api.get('/');
    const { readFileSync } = await import('node:fs');
    const text = await until(() => {
      const t = readFileSync(log, 'utf8');
      return t.includes('Total previous API call duration') ? t : undefined;
    });
    expect(text).toMatch(/\[anonymous-instance:main:INFO:[^\]]+:\d+\] Running Firecracker v1\.16\.1/);
    expect(text).toContain('[anonymous-instance:fc_api:INFO:');
    expect(text).toContain('The API server received a Get request on "/".');
    expect(text).toContain('The request was executed successfully. Status code: 200 OK.');
    expect(p.stdout()).toBe('');
  });
});
