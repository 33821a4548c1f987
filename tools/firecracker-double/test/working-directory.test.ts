import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const compiled = pathToFileURL(join(import.meta.dirname, '..', 'dist', 'working-directory.js')).href;

describe('resolveNow', () => {
  it('resolves a relative path against the working directory as it is now, after a rename Node did not see', () => {
    const root = mkdtempSync(join(tmpdir(), 'fcd-cwd-'));
    try {
      mkdirSync(join(root, 'warm'));
      // A process of its own: a working directory is the process's, and it renames its own here.
      const script = [
        `import { renameSync } from 'node:fs';`,
        `import { resolve } from 'node:path';`,
        `import { resolveNow, workingDirectoryNow } from ${JSON.stringify(compiled)};`,
        `const before = process.cwd();`,
        `renameSync(${JSON.stringify(join(root, 'warm'))}, ${JSON.stringify(join(root, 'vm'))});`,
        `console.log(JSON.stringify({ before, cached: resolve('rootfs.ext4'), now: resolveNow('rootfs.ext4'),`,
        `  directory: workingDirectoryNow(), absolute: resolveNow('/srv/x/../y') }));`,
      ].join('\n');
      const printed = JSON.parse(
        execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: join(root, 'warm'), encoding: 'utf8' }),
      ) as Record<string, string>;

      expect(printed.before).toBe(join(root, 'warm'));
      // Node's own answer names the directory that is gone; the kernel's, the one that is there.
      expect(printed.cached).toBe(join(root, 'warm', 'rootfs.ext4'));
      expect(printed.now).toBe(join(root, 'vm', 'rootfs.ext4'));
      expect(printed.directory).toBe(join(root, 'vm'));
      expect(printed.absolute).toBe('/srv/y');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
