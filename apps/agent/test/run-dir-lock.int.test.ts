import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { acquireRunDirLock, RunDirLockedError } from '../src/adapters/system/run-dir-lock.js';
import { makeTempDir } from './support.js';

describe('acquireRunDirLock', () => {
  it('refuses a second holder of the same run directory until the first releases it', async () => {
    const runDir = await makeTempDir();
    try {
      const first = await acquireRunDirLock(runDir);
      await expect(acquireRunDirLock(`${runDir}/.`)).rejects.toBeInstanceOf(RunDirLockedError);
      await first.release();
      const second = await acquireRunDirLock(runDir);
      await second.release();
    } finally {
      await rm(runDir, { recursive: true, force: true });
    }
  });

  it('is free again once the process holding it is killed', async () => {
    const runDir = await makeTempDir();
    // The compiled module (npm test builds first): a plain node process cannot load TypeScript.
    const moduleUrl = new URL('../dist/adapters/system/run-dir-lock.js', import.meta.url).href;
    const holder = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const { acquireRunDirLock } = await import(${JSON.stringify(moduleUrl)}); await acquireRunDirLock(${JSON.stringify(runDir)}); process.stdout.write('held\\n'); setInterval(() => {}, 1000);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await new Promise<void>((resolve, reject) => {
        holder.stdout.on('data', (chunk: Buffer) => {
          if (chunk.toString().includes('held')) resolve();
        });
        holder.once('exit', (code) => reject(new Error(`lock holder exited with ${code}`)));
      });
      await expect(acquireRunDirLock(runDir)).rejects.toBeInstanceOf(RunDirLockedError);
      const exited = new Promise((resolve) => holder.once('exit', resolve));
      holder.kill('SIGKILL');
      await exited;
      const lock = await acquireRunDirLock(runDir);
      await lock.release();
    } finally {
      holder.kill('SIGKILL');
      await rm(runDir, { recursive: true, force: true });
    }
  });
});
