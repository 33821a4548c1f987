import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '@hearth/testkit';

// The Manager's V8 flags size its heap, which V8 configures before any of the Manager's code runs:
// they only work on node's command line, so every launcher gives them, from one list (ADR 0011).
const listFile = 'apps/manager/node-flags.json';
const flags = JSON.parse(readFileSync(path.join(repoRoot, listFile), 'utf8')) as string[];

/** The checkout's files as git sees them (committed or not, ignored ones left out), with their text. */
function sourceFiles(): { file: string; text: string }[] {
  return execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { cwd: repoRoot, encoding: 'utf8' })
    .split('\n')
    .filter((file) => /\.(ts|mts|mjs|cjs|js|sh|json|md|service|ya?ml)$/.test(file) && file !== 'package-lock.json')
    .filter((file) => !file.split('/').includes('dist') && !file.split('/').includes('node_modules'))
    .flatMap((file) => {
      try {
        return [{ file, text: readFileSync(path.join(repoRoot, file), 'utf8') }];
      } catch {
        return []; // listed by git, deleted in the work tree
      }
    });
}

/** Names the Manager's entry point: its bundle, its compiled main, or testkit's path to it. */
const namesManagerEntry = (file: string, text: string): boolean =>
  /hearth-manager\.mjs|apps\/manager\/dist\/main\.js|\bmanagerMain\b/.test(text) ||
  (file.startsWith('apps/manager/') && /['"]\.\.\/dist\/main\.js['"]/.test(text));
/** Starts processes (or, in a systemd unit, tells systemd to). */
const startsProcesses = (text: string): boolean =>
  /\bspawn\(|\bstartProcess\(|\bfork\(|\bexecFile|supervisor\.start\(|ExecStart=/.test(text);
const usesTheList = (text: string): boolean => /\bmanagerNodeFlags\b|node-flags\.json/.test(text);

/**
 * Files that name the entry point and start processes, but not the Manager's: each hands the path
 * on to testkit's `createManagerProcess`, which gives that build's flags.
 */
const handOnTheEntry = new Set([
  'packages/testkit/src/single-host-stack.ts', // its `managerMain` option → createManagerProcess
  'bench/src/main.ts', // spawns the double; `managerMain` → the single-host stack
  'bench/src/qemu-boot.ts', // spawns QEMU; `managerMain` → the single-host stack
]);

describe("the Manager's node flags", () => {
  it('are a list of V8 flags (possibly empty)', () => {
    expect(Array.isArray(flags)).toBe(true);
    for (const flag of flags) expect(flag).toMatch(/^--[a-z][a-z0-9-]*(=\S+)?$/);
  });

  it('are given by every launcher of the Manager', () => {
    const launchers = sourceFiles().filter(
      ({ file, text }) => !/\.(md|json)$/.test(file) && namesManagerEntry(file, text) && startsProcesses(text),
    );
    // The launchers known today are found: the test would notice none otherwise.
    expect(launchers.map(({ file }) => file)).toEqual(
      expect.arrayContaining([
        'scripts/start.mjs',
        'scripts/demo.mjs',
        'packages/testkit/src/hearth-processes.ts',
        'bench/src/event-clients.ts',
        'bench/src/scale/scale-run.ts',
        'apps/manager/src/main.e2e.test.ts',
      ]),
    );
    const without = launchers.filter(({ file, text }) => !handOnTheEntry.has(file) && !usesTheList(text));
    expect(
      without.map(({ file }) => file),
      `start the Manager with the flags of ${listFile} (managerNodeFlags)`,
    ).toEqual([]);
  });

  it('are carried by the hearth-manager command, whose first line gives them to node, and npm start runs it', () => {
    const [shebang] = readFileSync(path.join(repoRoot, 'apps/manager/bin/hearth-manager.mjs'), 'utf8').split('\n');
    expect(shebang).toBe(flags.length === 0 ? '#!/usr/bin/env node' : `#!/usr/bin/env -S node ${flags.join(' ')}`);
    const manifest = JSON.parse(readFileSync(path.join(repoRoot, 'apps/manager/package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(manifest.scripts['start']).toBe('./bin/hearth-manager.mjs');
  });

  it('are not left out by the docs: a command that runs the Manager runs the hearth-manager command', () => {
    const bare = sourceFiles()
      .filter(({ file }) => file.endsWith('.md') || file.endsWith('.service'))
      .flatMap(({ file, text }) =>
        text
          .split('\n')
          .filter((line) => /\bnode\s+(\S*\/)?apps\/manager\/(dist|bin)\//.test(line) || /ExecStart=.*node\s/.test(line))
          .map((line) => `${file}: ${line.trim()}`),
      );
    expect(bare).toEqual([]);
  });
});
