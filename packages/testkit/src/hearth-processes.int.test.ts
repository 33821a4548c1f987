import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { managerMain, managerNodeFlags, repoRoot } from './environment.js';
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

describe('a Manager process', () => {
  it("gives node the flags of the build it starts, from the node-flags.json beside the build's dist/", async () => {
    const directory = mkdtempSync(path.join(os.tmpdir(), 'hearth-processes-'));
    directories.push(directory);
    mkdirSync(path.join(directory, 'dist'));
    const main = path.join(directory, 'dist', 'flags.mjs');
    const seen = path.join(directory, 'exec-argv.json');
    writeFileSync(
      main,
      `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(seen)}, JSON.stringify(process.execArgv));\n`,
    );
    writeFileSync(path.join(directory, 'node-flags.json'), JSON.stringify(['--stack-size=900', '--max-semi-space-size=4']));
    const hearth = await createManagerProcess({
      databaseUrl: 'postgres://unused',
      imageRoot: directory,
      logFile: path.join(directory, 'log'),
      main,
    });
    try {
      expect((await hearth.launch().exited).code).toBe(0);
      expect(JSON.parse(readFileSync(seen, 'utf8'))).toEqual(['--stack-size=900', '--max-semi-space-size=4']);
    } finally {
      await hearth.stop();
    }
  });

  it("takes this checkout's Manager flags from apps/manager/node-flags.json", () => {
    const listed = JSON.parse(readFileSync(path.join(repoRoot, 'apps/manager/node-flags.json'), 'utf8')) as unknown;
    expect(managerNodeFlags()).toEqual(listed);
    expect(managerNodeFlags(managerMain)).toEqual(listed);
  });
});
