import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlive } from './process-tree.js';
import { startProcess, type StartedProcess } from './start-process.js';
import { waitFor } from './wait-for.js';

const node = process.execPath;

describe('startProcess', () => {
  let dir: string;
  const started: StartedProcess[] = [];
  const start = (...args: Parameters<typeof startProcess>): StartedProcess => {
    const process = startProcess(...args);
    started.push(process);
    return process;
  };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'hearth-testkit-'));
  });

  afterAll(async () => {
    await Promise.all(started.map((each) => each.stop()));
    await rm(dir, { recursive: true, force: true });
  });

  it('captures stdout and stderr and copies them to the log file', async () => {
    const logFile = path.join(dir, 'logs', 'out.log');
    const child = start([node, '-e', 'console.log("to stdout"); console.error("to stderr")'], { logFile });
    expect(await child.exited).toMatchObject({ code: 0 });
    await child.stop();
    expect(child.output()).toContain('to stdout');
    expect(child.output()).toContain('to stderr');
    expect(await readFile(logFile, 'utf8')).toContain('to stdout');
  });

  it('passes env additions and removes keys set to undefined', async () => {
    process.env['HEARTH_TESTKIT_REMOVE_ME'] = 'present';
    try {
      const child = start(
        [node, '-e', 'console.log(JSON.stringify([process.env.HEARTH_ADDED, process.env.HEARTH_TESTKIT_REMOVE_ME ?? null]))'],
        { env: { HEARTH_ADDED: 'yes', HEARTH_TESTKIT_REMOVE_ME: undefined } },
      );
      await child.exited;
      expect(child.output().trim()).toBe('["yes",null]');
    } finally {
      delete process.env['HEARTH_TESTKIT_REMOVE_ME'];
    }
  });

  it('stop ends a running process with SIGTERM', async () => {
    const child = start([node, '-e', 'console.log("up"); setInterval(() => {}, 1000)']);
    await waitFor(() => child.output().includes('up'), { timeoutMs: 5_000, description: 'the child to start' });
    expect(await child.stop()).toMatchObject({ signal: 'SIGTERM' });
  });

  it('stop escalates to SIGKILL when SIGTERM is ignored', async () => {
    const child = start([node, '-e', 'process.on("SIGTERM", () => {}); console.log("up"); setInterval(() => {}, 1000)'], {
      stopTimeoutMs: 200,
    });
    await waitFor(() => child.output().includes('up'), { timeoutMs: 5_000, description: 'the child to start' });
    expect(await child.stop()).toMatchObject({ signal: 'SIGKILL' });
  });

  it('stop also kills the grandchildren of the process', async () => {
    const script = `
      const { spawn } = require('node:child_process');
      const grandchild = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore', detached: true });
      console.log('grandchild ' + grandchild.pid);
      setInterval(() => {}, 1000);`;
    const child = start([node, '-e', script]);
    const match = await waitFor(() => /grandchild (\d+)/.exec(child.output()), {
      timeoutMs: 5_000,
      description: 'the grandchild pid',
    });
    const grandchildPid = Number(match[1]);
    await child.stop();
    expect(isAlive(grandchildPid)).toBe(false);
  });

  it('reports a command that cannot be started through exited', async () => {
    const child = start([path.join(dir, 'no-such-binary')]);
    const exit = await child.exited;
    expect(exit.error?.message).toMatch(/ENOENT/);
  });
});
