import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createManagerProcess } from './hearth-processes.js';

const directories: string[] = [];

afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

function isAlive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('HearthProcess', () => {
  it('stops every process it launched, not only the last one', async () => {
    const directory = mkdtempSync(path.join(os.tmpdir(), 'hearth-processes-'));
    directories.push(directory);
    const main = path.join(directory, 'idle.mjs');
    writeFileSync(main, 'setInterval(() => {}, 1000);\n');
    const hearth = await createManagerProcess({
      databaseUrl: 'postgres://unused',
      imageRoot: directory,
      logFile: path.join(directory, 'log'),
      main,
    });

    // A test that timed out can go on in the background and start one more.
    const first = hearth.launch();
    const second = hearth.launch();
    try {
      expect(hearth.process).toBe(second);
      expect([isAlive(first.child.pid), isAlive(second.child.pid)]).toEqual([true, true]);

      await hearth.stop();

      expect([isAlive(first.child.pid), isAlive(second.child.pid)]).toEqual([false, false]);
      await hearth.stop();
    } finally {
      // Nothing outlives the test, even when it fails.
      await Promise.all([first.stop(), second.stop()]);
    }
  });
});
