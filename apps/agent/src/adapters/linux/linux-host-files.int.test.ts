import {
  closeSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CommandRunner } from '../../application/ports/command-runner.js';
import { ExecFileCommandRunner } from './exec-file-command-runner.js';
import { fifoSpareBatchSize, LinuxHostFiles } from './linux-host-files.js';

const noCommands: CommandRunner = {
  run: () => Promise.reject(new Error('rotateLog runs no command')),
};

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hearth-rotate-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('LinuxHostFiles.sizeOf', () => {
  it("answers a file's size, undefined for a missing one, and fails for a path it cannot look into", async () => {
    const files = new LinuxHostFiles(noCommands);
    writeFileSync(join(dir, 'stdout.log'), 'boot log\n');

    expect(await files.sizeOf(join(dir, 'stdout.log'))).toBe(9);
    expect(await files.sizeOf(join(dir, 'missing.log'))).toBeUndefined();
    await expect(files.sizeOf(join(dir, 'stdout.log', 'below'))).rejects.toMatchObject({ code: 'ENOTDIR' });
  });
});

describe('LinuxHostFiles.watchPath', () => {
  it('answers each wait from one watch: at once when the path is there, when it appears, false when it does not', async () => {
    const files = new LinuxHostFiles(noCommands);
    const socket = join(dir, 'firecracker.socket');
    const watch = files.watchPath(socket);
    try {
      expect(await watch.appeared(1)).toBe(false);
      // Woken by the watch, not by its deadline (a minute: the test's own timeout ends first).
      const waiting = watch.appeared(60_000);
      writeFileSync(join(dir, 'firecracker.log'), 'another file of the directory\n');
      writeFileSync(socket, '');
      expect(await waiting).toBe(true);
      expect(await watch.appeared(60_000)).toBe(true);
    } finally {
      watch.close();
    }
  });

  it('answers false to a wait in progress when closed, and at once for a directory that is not there', async () => {
    const files = new LinuxHostFiles(noCommands);
    const watch = files.watchPath(join(dir, 'firecracker.socket'));
    const waiting = watch.appeared(60_000);
    watch.close();
    expect(await waiting).toBe(false);
    expect(await watch.appeared(60_000)).toBe(false);

    const unwatched = files.watchPath(join(dir, 'missing', 'firecracker.socket'));
    expect(await unwatched.appeared(60_000)).toBe(false);
    unwatched.close();
  });
});

describe('LinuxHostFiles.rotateLog', () => {
  it('moves a log past its cap aside and truncates it, so an O_APPEND writer goes on at its start', async () => {
    const files = new LinuxHostFiles(noCommands);
    const log = join(dir, 'stdout.log');
    const writer = openSync(log, 'a', 0o600);
    try {
      writeSync(writer, 'boot log\n');
      expect(await files.rotateLog(log, `${log}.1`, 4)).toBe(true);
      writeSync(writer, 'login: ');
      expect(readFileSync(`${log}.1`, 'utf8')).toBe('boot log\n');
      expect(readFileSync(log, 'utf8')).toBe('login: ');
      expect(statSync(`${log}.1`).mode & 0o777).toBe(0o600);
      expect(await files.rotateLog(log, `${log}.1`, 64)).toBe(false);
      expect(await files.rotateLog(join(dir, 'missing.log'), join(dir, 'missing.log.1'), 0)).toBe(false);
    } finally {
      closeSync(writer);
    }
  });

  it('replaces a link planted at the rotated path instead of writing through it', async () => {
    const files = new LinuxHostFiles(noCommands);
    const log = join(dir, 'stdout.log');
    const target = join(dir, 'elsewhere');
    writeFileSync(target, 'untouched');
    writeFileSync(log, 'console output');
    symlinkSync(target, `${log}.1`);
    expect(await files.rotateLog(log, `${log}.1`, 1)).toBe(true);
    expect(readFileSync(target, 'utf8')).toBe('untouched');
    expect(readFileSync(`${log}.1`, 'utf8')).toBe('console output');
  });
});

describe('LinuxHostFiles.createFifo with spares', () => {
  it('makes FIFOs of mode 0600 for many VMs with one mkfifo per batch', async () => {
    const commands: string[][] = [];
    const runner: CommandRunner = {
      run: async (argv) => {
        commands.push([...argv]);
        return new ExecFileCommandRunner().run(argv);
      },
    };
    const files = new LinuxHostFiles(runner, { fifoSpareDirectory: join(dir, 'spares'), fifoSpareBatchSize: 16 });
    const paths = Array.from({ length: 40 }, (_, i) => join(dir, `vm-${i}.fifo`));

    await Promise.all(paths.map((path) => files.createFifo(path)));

    for (const path of paths) {
      const info = lstatSync(path);
      expect(info.isFIFO()).toBe(true);
      expect(info.mode & 0o777).toBe(0o600);
      expect(info.nlink).toBe(1);
    }
    expect(commands.map((argv) => argv[0])).toEqual(['mkfifo', 'mkfifo', 'mkfifo']);
  });

  it(`makes the FIFOs of ${fifoSpareBatchSize / 2} VMs (two each) with one mkfifo by default`, async () => {
    const commands: string[][] = [];
    const runner: CommandRunner = {
      run: async (argv) => {
        commands.push([...argv]);
        return new ExecFileCommandRunner().run(argv);
      },
    };
    const files = new LinuxHostFiles(runner, { fifoSpareDirectory: join(dir, 'spares') });
    const paths = Array.from({ length: fifoSpareBatchSize + 1 }, (_, i) => join(dir, `vm-${i}.fifo`));

    for (const path of paths.slice(0, fifoSpareBatchSize)) await files.createFifo(path);
    expect(commands).toHaveLength(1);
    await files.createFifo(paths[fifoSpareBatchSize]!);

    expect(commands).toHaveLength(2);
    expect(paths.every((path) => lstatSync(path).isFIFO())).toBe(true);
  });

  it('never replaces a file that took the path, and keeps an existing FIFO', async () => {
    const files = new LinuxHostFiles(new ExecFileCommandRunner(), { fifoSpareDirectory: join(dir, 'spares') });
    const taken = join(dir, 'taken');
    writeFileSync(taken, 'not a fifo');
    await expect(files.createFifo(taken)).rejects.toMatchObject({ code: 'HOST_COMMAND_FAILED' });
    expect(readFileSync(taken, 'utf8')).toBe('not a fifo');

    const fifo = join(dir, 'metrics.fifo');
    await files.createFifo(fifo);
    await files.createFifo(fifo);
    expect(lstatSync(fifo).isFIFO()).toBe(true);
  });

  it('starts from an empty spare directory, whatever an earlier run left there', async () => {
    const spares = join(dir, 'spares');
    mkdirSync(spares);
    writeFileSync(join(spares, 'fifo-1-0'), 'left by an earlier run');
    const files = new LinuxHostFiles(new ExecFileCommandRunner(), { fifoSpareDirectory: spares });

    await files.createFifo(join(dir, 'a.fifo'));

    expect(lstatSync(join(dir, 'a.fifo')).isFIFO()).toBe(true);
  });
});
