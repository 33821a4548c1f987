import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '@hearth/testkit';

/** Every command a workspace package declares (`bin`), with the file npm links it to. */
function declaredCommands(): { name: string; file: string }[] {
  const manifest = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { workspaces: string[] };
  const folders = manifest.workspaces.flatMap((pattern) =>
    pattern.endsWith('/*')
      ? execFileSync('git', ['ls-files', '--', `${pattern.slice(0, -2)}/*/package.json`], { cwd: repoRoot, encoding: 'utf8' })
          .split('\n')
          .filter((line) => line !== '')
          .map((file) => path.dirname(file))
      : [pattern],
  );
  return folders.flatMap((folder) => {
    const bin = (
      JSON.parse(readFileSync(path.join(repoRoot, folder, 'package.json'), 'utf8')) as { bin?: Record<string, string> }
    ).bin;
    return Object.entries(bin ?? {}).map(([name, file]) => ({ name, file: path.join(folder, file) }));
  });
}

describe('the commands the workspaces declare', () => {
  // `npm ci` links each command before `tsc -b` writes dist/, so a command must be a committed,
  // executable file: a compiled one has no executable bit, and `npx hearth` would be refused.
  it('are committed executable files with a node shebang (which may give node flags)', () => {
    const commands = declaredCommands();
    expect(commands.map((command) => command.name)).toEqual(expect.arrayContaining(['hearth', 'hearth-manager', 'hearth-agent']));
    for (const { name, file } of commands) {
      const [mode] = execFileSync('git', ['ls-files', '--stage', '--', file], { cwd: repoRoot, encoding: 'utf8' }).split(' ');
      expect(mode, `${name}: ${file}`).toBe('100755');
      expect(readFileSync(path.join(repoRoot, file), 'utf8'), `${name}: ${file}`).toMatch(
        /^#!\/usr\/bin\/env (-S )?node( --\S+)*\n/,
      );
    }
  });

  it('runs hearth as the README says, straight from the file npm links', () => {
    const file = declaredCommands().find((command) => command.name === 'hearth')!.file;
    const help = execFileSync(path.join(repoRoot, file), ['help'], { encoding: 'utf8', env: { ...process.env, HEARTH_URL: '' } });
    expect(help).toContain('hearth vm create <name>');
  });

  it('opens the README with the CLI, not curl: its first commands run hearth, and curl comes after the CLI section', () => {
    const readme = readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
    const firstBlock = /```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
    expect(firstBlock).toMatch(/^npx hearth /m);
    expect(firstBlock).not.toContain('curl');
    expect(readme.indexOf('curl ')).toBeGreaterThan(readme.indexOf('## The `hearth` CLI'));
  });
});
