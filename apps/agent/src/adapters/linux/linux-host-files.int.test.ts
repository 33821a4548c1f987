import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CommandRunner } from '../../application/ports/command-runner.js';
import { LinuxHostFiles } from './linux-host-files.js';

const noCommands: CommandRunner = {
  run: () => Promise.reject(new Error('rotateLog runs no command')),
};

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hearth-rotate-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

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
