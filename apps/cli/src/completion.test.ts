import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { hasCommand } from '@hearth/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { commands } from './cli.js';
import { completionScript, completionShells, type CompletionShell } from './completion.js';

const run = promisify(execFile);
const dir = mkdtempSync(path.join(os.tmpdir(), 'hearth-completion-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function scriptFile(shell: CompletionShell): string {
  const file = path.join(dir, `hearth.${shell}`);
  writeFileSync(file, completionScript(shell, commands));
  return file;
}

/**
 * What each shell offers after `line` (the words typed so far, the last one being completed), by
 * running the shell's own completion machinery on the script.
 */
const complete: Record<CompletionShell, (words: readonly string[]) => Promise<string[]>> = {
  async bash(words) {
    const script = `source ${scriptFile('bash')}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _hearth; printf '%s\\n' "\${COMPREPLY[@]}"`;
    return lines((await run('bash', ['-c', script])).stdout);
  },
  async zsh(words) {
    // compadd and compdef exist only inside zsh's completion system: stand-ins record what is offered.
    const script =
      `compdef() { :; }; compadd() { shift; print -l -- "$@"; }; source ${scriptFile('zsh')}; ` +
      `words=(${words.map((w) => `'${w}'`).join(' ')}); CURRENT=${words.length}; _hearth`;
    return lines((await run('zsh', ['-f', '-c', script])).stdout);
  },
  async fish(words) {
    const script = `source ${scriptFile('fish')}; complete -C '${words.join(' ')}'`;
    return lines((await run('fish', ['--no-config', '-c', script])).stdout).map((line) => line.split('\t')[0]!);
  },
};

function lines(text: string): string[] {
  return text.split('\n').filter((line) => line !== '');
}

describe.each(completionShells)('hearth completion %s', (shell) => {
  const skip = hasCommand(shell) ? undefined : `${shell} is not installed (npm test installs it as root)`;

  it.skipIf(skip)(`offers resources, verbs and options${skip ? ` (skipped: ${skip})` : ''}`, async () => {
    const resources = await complete[shell](['hearth', '']);
    expect(resources).toEqual(expect.arrayContaining(['vm', 'image', 'template', 'snapshot', 'host', 'completion']));
    expect(await complete[shell](['hearth', 'template', ''])).toEqual(
      expect.arrayContaining(['ls', 'get', 'create', 'set', 'rm']),
    );
    expect((await complete[shell](['hearth', 'completion', ''])).sort()).toEqual(['bash', 'fish', 'zsh']);
    const createOptions = await complete[shell](['hearth', 'vm', 'create', 'web', '']);
    expect(createOptions).toEqual(expect.arrayContaining(['--template', '--kernel', '--wait', '-o']));
    expect(createOptions).not.toContain('--stop');
  });
});
