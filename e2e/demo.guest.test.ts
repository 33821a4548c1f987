/**
 * `npm run demo` as a user runs it: it boots a real guest under QEMU, so it runs with the other
 * real-guest tests, after the guest images are built.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { descendantPids, findGuestImages, missingRequirements, waitFor, waitForPidsToExit } from '@hearth/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { endRun, npmRun, type NpmRun } from './support/npm-run.js';

const images = await findGuestImages();
const demoSkip =
  missingRequirements({ root: true, commands: ['ip', 'npm', 'qemu-system-x86_64'] }) ??
  images.missing ??
  (existsSync('/run/netns/hearth-demo') ? 'the network namespace hearth-demo exists: another demo runs' : undefined);

describe.skipIf(demoSkip)(`npm run demo over real processes${demoSkip ? ` (skipped: ${demoSkip})` : ''}`, () => {
  let run: NpmRun | undefined;

  afterEach(async () => {
    await endRun(run);
    run = undefined;
  });

  it('SIGTERM to the npm process stops the apps, QEMU and the namespace within seconds', { timeout: 300_000 }, async () => {
    run = npmRun('demo', { ...process.env, HEARTH_IMAGE_CACHE: path.dirname(images.dir as string) });
    const current = run;
    await waitFor(() => current.output().includes('A real Linux guest is running') || current.npm.exitCode !== null, {
      timeoutMs: 240_000,
      description: 'the demo guest answers',
    });
    expect(current.npm.exitCode, current.output()).toBeNull();
    const children = descendantPids(current.npm.pid as number);
    process.kill(current.npm.pid as number, 'SIGTERM');
    const exit = await Promise.race([current.exited, new Promise<null>((resolve) => setTimeout(() => resolve(null), 30_000))]);
    expect(exit, `npm still runs 30 s after SIGTERM:\n${current.output()}`).not.toBeNull();
    await expect(waitForPidsToExit(children, 5_000)).resolves.toBeUndefined();
    expect(existsSync('/run/netns/hearth-demo')).toBe(false);
  });
});
