import { describe, expect, it } from 'vitest';
import { runCli } from './cli.js';
import { exitCodes } from './exit-codes.js';

/** Runs `hearth …` with no Manager configured: what it prints, and its exit code. */
async function hearth(...args: string[]): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const code = await runCli(args, {
    env: { XDG_CONFIG_HOME: '/nonexistent/hearth-cli-test' },
    stdout: () => {},
    write: () => {},
    stderr: (text) => (stderr += `${text}\n`),
  });
  return { code, stderr };
}

describe('hearth', () => {
  it('refuses malformed numbers and choices as usage (2) before it looks for a Manager', async () => {
    for (const args of [
      ['token', 'create', 'ci', '--scope', 'vms:read', '--expires-in', 'soon'],
      ['host', 'join-token', '--ttl', 'an hour'],
      ['audit', 'ls', '--outcome', 'maybe'],
      ['audit', 'ls', '--last', '0'],
      ['event', 'ls', 'extra'],
    ]) {
      const run = await hearth(...args);
      expect([args.join(' '), run.code, run.stderr]).toEqual([
        args.join(' '),
        exitCodes.usage,
        expect.stringMatching(/^hearth: usage: /),
      ]);
    }
  });

  it('asks for a Manager (6) once the command line is right', async () => {
    expect((await hearth('token', 'create', 'ci', '--scope', 'vms:read', '--expires-in', '3600')).code).toBe(
      exitCodes.notConfigured,
    );
    expect((await hearth('event', 'ls', '--type', 'vm.created')).code).toBe(exitCodes.notConfigured);
  });
});
