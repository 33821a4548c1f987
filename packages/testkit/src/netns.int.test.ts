import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { missingRequirements } from './environment.js';
import { createNetns, type Netns } from './netns.js';
import { isAlive } from './process-tree.js';
import { waitFor } from './wait-for.js';

const skipReason = missingRequirements({ root: true, commands: ['ip'] });

async function withNetns(test: (netns: Netns) => Promise<void>): Promise<void> {
  const netns = await createNetns();
  try {
    await test(netns);
  } finally {
    await netns.destroy();
  }
}

describe.skipIf(skipReason)(`createNetns${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it('creates a namespace named hearth-<random> of at most 15 bytes and destroy removes it', async () => {
    const netns = await createNetns();
    try {
      expect(netns.name).toMatch(/^hearth-[0-9a-f]{8}$/);
      expect(existsSync(`/run/netns/${netns.name}`)).toBe(true);
    } finally {
      await netns.destroy();
    }
    expect(existsSync(`/run/netns/${netns.name}`)).toBe(false);
  });

  it('brings lo up inside the namespace', async () => {
    await withNetns(async (netns) => {
      const { stdout } = await netns.exec(['ip', '-o', 'link', 'show', 'lo']);
      expect(stdout).toMatch(/<[^>]*\bUP\b[^>]*>/);
    });
  });

  it('exec rejects with the stderr of a failing command', async () => {
    await withNetns(async (netns) => {
      await expect(netns.exec(['ip', 'link', 'show', 'hearth-nope0'])).rejects.toThrow(/does not exist/);
    });
  });

  it('destroy kills the processes spawned inside the namespace', async () => {
    let pid: number | undefined;
    await withNetns(async (netns) => {
      const child = netns.spawn([process.execPath, '-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
      pid = child.pid;
      await waitFor(() => pid !== undefined && isAlive(pid), { timeoutMs: 5_000, description: 'the child to run' });
    });
    expect(pid !== undefined && isAlive(pid)).toBe(false);
  });

  it('destroy kills processes started in the namespace by other means', async () => {
    let pids: number[] = [];
    await withNetns(async (netns) => {
      // A detached grandchild of exec(): not tracked by spawn(), found through `ip netns pids`.
      const script = `require('node:child_process').spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore', detached: true }).unref()`;
      await netns.exec([process.execPath, '-e', script]);
      pids = await waitFor(
        () => {
          const found = execFileSync('ip', ['netns', 'pids', netns.name], { encoding: 'utf8' }).split(/\s+/).filter(Boolean);
          return found.length > 0 ? found.map(Number) : undefined;
        },
        { timeoutMs: 5_000, description: 'the stray process to appear' },
      );
    });
    expect(pids.filter(isAlive)).toEqual([]);
  });

  it('starts with no network interface but lo', async () => {
    await withNetns(async (netns) => {
      const { stdout } = await netns.exec(['ip', '-o', 'link', 'show']);
      const names = stdout
        .trim()
        .split('\n')
        .map((line) => line.split(':')[1]?.trim());
      expect(names).toEqual(['lo']);
    });
  });
});
