import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';

/** A process racing a checker: it swaps a regular file and a symlink to `target` over one path. */
export interface SymlinkSwap {
  /** True while the swapping process still runs (so the race was really on). */
  readonly isRunning: () => boolean;
  /** Kills the swapping process and waits until it is gone. */
  stop(): Promise<void>;
}

/**
 * Starts renaming, back and forth, a regular file holding `content` and a symlink to `target` over
 * `path`, in a loop, until stopped: what a hostile local user does between a check by path and an
 * open by name. Its scratch files live beside `path`.
 */
export function startSymlinkSwap(path: string, target: string, content: string): SymlinkSwap {
  const script = `
    const fs = require('node:fs');
    const [path, regular, link, target, content] = process.argv.slice(1);
    for (;;) {
      fs.writeFileSync(regular, content);
      fs.renameSync(regular, path);
      try { fs.unlinkSync(link); } catch {}
      fs.symlinkSync(target, link);
      fs.renameSync(link, path);
    }`;
  const directory = dirname(path);
  const child = spawn(
    process.execPath,
    ['-e', script, path, join(directory, 'swap-regular.tmp'), join(directory, 'swap-link.tmp'), target, content],
    {
      stdio: 'ignore',
    },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    isRunning: () => child.exitCode === null && child.signalCode === null,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
