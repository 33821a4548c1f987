import { execFile } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import koffi from 'koffi';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { waitFor } from '@hearth/testkit';
import type { VmmExit } from '../../application/ports/vmm.js';
import {
  decodeWaitStatus,
  ForkSessionSpawner,
  loadSessionSpawner,
  PosixSessionSpawner,
  type SessionSpawner,
} from './session-spawner.js';

const posix = PosixSessionSpawner.load();

describe('loadSessionSpawner', () => {
  it('uses posix_spawn where koffi is installed, as it is here', () => {
    expect(posix).toBeInstanceOf(PosixSessionSpawner);
    expect(loadSessionSpawner()).toMatchObject({ spawner: { method: 'posix_spawn' } });
  });
});

describe('decodeWaitStatus', () => {
  it('reads an exit code and a terminating signal', () => {
    expect(decodeWaitStatus(3 << 8)).toEqual({ code: 3, signal: null });
    expect(decodeWaitStatus(9)).toEqual({ code: null, signal: 'SIGKILL' });
    expect(decodeWaitStatus(6 | 0x80)).toEqual({ code: null, signal: 'SIGABRT' });
  });
});

/** Both spawners must start a process the same way: the VMM adapter takes either. */
describe.each([
  ['fork', (): SessionSpawner => new ForkSessionSpawner()],
  ['posix_spawn', (): SessionSpawner => posix as PosixSessionSpawner],
])('%s spawner', (_name, make) => {
  let dir: string;
  let fds: number[];
  const env = { PATH: process.env.PATH, HEARTH_SPAWN_TEST: 'yes' };

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'hearth-spawner-'));
    fds = [];
  });
  afterEach(() => {
    for (const fd of fds) closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  });

  function stdio(): [number, number, number] {
    const opened: [number, number, number] = [
      openSync('/dev/null', 'r'),
      openSync(path.join(dir, 'out'), 'a', 0o600),
      openSync(path.join(dir, 'err'), 'a', 0o600),
    ];
    fds.push(...opened);
    return opened;
  }

  /** Runs `script` under sh to its end; its stdout and how it ended. */
  async function run(script: string, umask?: number): Promise<{ out: string; exit: VmmExit; pid: number }> {
    let ended!: (exit: VmmExit) => void;
    const exited = new Promise<VmmExit>((resolve) => (ended = resolve));
    const previous = umask === undefined ? undefined : process.umask(umask);
    let spawned: Promise<number>;
    try {
      spawned = make().spawn({ file: 'sh', args: ['-c', script], cwd: dir, env, stdio: stdio() }, ended);
    } finally {
      if (previous !== undefined) process.umask(previous);
    }
    const pid = await spawned;
    const exit = await exited;
    return { out: readFileSync(path.join(dir, 'out'), 'utf8'), exit, pid };
  }

  it('runs the program in its directory, with its environment and stdio, and reports its exit code', async () => {
    const { out, exit } = await run('pwd; echo "$HEARTH_SPAWN_TEST"; echo oops >&2; exit 7');
    expect(out).toBe(`${dir}\nyes\n`);
    expect(readFileSync(path.join(dir, 'err'), 'utf8')).toBe('oops\n');
    expect(exit).toEqual({ code: 7, signal: null });
  });

  it('starts a session of its own, with the umask set around the call', async () => {
    const { out, pid } = await run('cut -d" " -f6 /proc/$$/stat; umask', 0o077);
    // Field 6: the session id, the process's own pid.
    expect(out).toBe(`${pid}\n0077\n`);
  });

  it('gives every signal its default and blocks none (Node ignores SIGPIPE)', async () => {
    // `exec` keeps the pid: grep reads the dispositions it was started with.
    const { out } = await run('exec grep -E "^Sig(Blk|Ign)" /proc/self/status');
    expect(out).toBe('SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n');
  });

  it('reports a signal that ended the process, and leaves no zombie', async () => {
    let ended!: (exit: VmmExit) => void;
    const exited = new Promise<VmmExit>((resolve) => (ended = resolve));
    const pid = await make().spawn({ file: 'sleep', args: ['30'], cwd: dir, env, stdio: stdio() }, ended);
    expect(existsSync(`/proc/${pid}`)).toBe(true);
    process.kill(pid, 'SIGKILL');
    expect(await exited).toEqual({ code: null, signal: 'SIGKILL' });
    expect(existsSync(`/proc/${pid}`)).toBe(false);
  });

  it('rejects a program that cannot be executed', async () => {
    const onExit = (): void => {
      throw new Error('no process, no exit');
    };
    await expect(
      make().spawn({ file: 'hearth-no-such-program', args: [], cwd: dir, env, stdio: stdio() }, onExit),
    ).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('posix_spawn spawner', () => {
  it('passes on no descriptor but stdio', async () => {
    const spawner = posix as PosixSessionSpawner;
    const dir = mkdtempSync(path.join(os.tmpdir(), 'hearth-spawner-'));
    const opened = [openSync('/dev/null', 'r'), openSync(path.join(dir, 'out'), 'a'), openSync('/dev/null', 'a')];
    try {
      let ended!: () => void;
      const exited = new Promise<void>((resolve) => (ended = resolve));
      // ls lists its own descriptors: 0–2 and the one it reads the directory with.
      await spawner.spawn(
        {
          file: 'ls',
          args: ['/proc/self/fd'],
          cwd: dir,
          env: { PATH: process.env.PATH },
          stdio: [opened[0]!, opened[1]!, opened[2]!],
        },
        ended,
      );
      await exited;
      expect(readFileSync(path.join(dir, 'out'), 'utf8').split('\n').filter(Boolean)).toEqual(['0', '1', '2', '3']);
    } finally {
      for (const fd of opened) closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reaps its own behind a child that has ended and that nobody else reaps', async () => {
    // A child of this process started outside both the spawner and Node: its zombie stays, and it is
    // the first ended child `waitid` names.
    const libc = koffi.load('libc.so.6');
    const spawnp = libc.func(
      'int posix_spawnp(_Out_ int *pid, const char *file, void *fa, void *attr, const char **argv, const char **envp)',
    );
    const waitpid = libc.func('int waitpid(int pid, _Out_ int *status, int options)');
    const stranger: [number] = [0];
    expect(spawnp(stranger, 'true', null, null, ['true', null], [null])).toBe(0);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'hearth-spawner-'));
    const devNull = openSync('/dev/null', 'r+');
    try {
      await waitFor(() => readFileSync(`/proc/${stranger[0]}/stat`, 'utf8').split(' ')[2] === 'Z' || undefined, {
        timeoutMs: 5_000,
        intervalMs: 5,
      });
      let ended!: (exit: VmmExit) => void;
      const exited = new Promise<VmmExit>((resolve) => (ended = resolve));
      const pid = await (posix as PosixSessionSpawner).spawn(
        { file: 'sh', args: ['-c', 'exit 4'], cwd: dir, env: {}, stdio: [devNull, devNull, devNull] },
        ended,
      );
      expect(await exited).toEqual({ code: 4, signal: null });
      expect(existsSync(`/proc/${pid}`)).toBe(false);
    } finally {
      const status: [number] = [0];
      expect(waitpid(stranger[0], status, 0)).toBe(stranger[0]);
      closeSync(devNull);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("reaps many processes that end at once, beside Node's own children ending too", async () => {
    const spawner = posix as PosixSessionSpawner;
    const dir = mkdtempSync(path.join(os.tmpdir(), 'hearth-spawner-'));
    const null0 = openSync('/dev/null', 'r');
    const null1 = openSync('/dev/null', 'a');
    try {
      // Node's children end at the same signals: they are Node's to reap, and reported to it.
      const nodeChildren = Promise.all(
        Array.from({ length: 10 }, (_, index) => promisify(execFile)('sh', ['-c', `echo ${index}`]).then(({ stdout }) => stdout)),
      );
      const exits = await Promise.all(
        Array.from({ length: 20 }, async (_, index) => {
          let ended!: (exit: VmmExit) => void;
          const exited = new Promise<VmmExit>((resolve) => (ended = resolve));
          const pid = await spawner.spawn(
            { file: 'sh', args: ['-c', `exit ${index}`], cwd: dir, env: {}, stdio: [null0, null1, null1] },
            ended,
          );
          return { pid, exit: await exited };
        }),
      );
      expect(exits.map(({ exit }) => exit.code)).toEqual(Array.from({ length: 20 }, (_, index) => index));
      expect(await nodeChildren).toEqual(Array.from({ length: 10 }, (_, index) => `${index}\n`));
      for (const { pid } of exits) expect(existsSync(`/proc/${pid}`)).toBe(false);
    } finally {
      closeSync(null0);
      closeSync(null1);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
