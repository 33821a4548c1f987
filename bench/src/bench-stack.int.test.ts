import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { writeDoubleWrapper } from './bench-stack.js';

/** Runs `file` and resolves with its pid and what it printed. */
function run(file: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<{ pid: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve({ pid: child.pid ?? -1, stdout }) : reject(new Error(`exit ${code}`))));
  });
}

describe('writeDoubleWrapper', () => {
  const directories: string[] = [];
  afterEach(() => {
    for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
  });

  it('execs the script under node with the flags and the arguments, without NODE_EXTRA_CA_CERTS', async () => {
    const directory = mkdtempSync(path.join(os.tmpdir(), 'hearth-double-wrapper-'));
    directories.push(directory);
    // Stands in for the double: says what its process got.
    const script = path.join(directory, "what's given.cjs");
    writeFileSync(
      script,
      'process.stdout.write(JSON.stringify({ pid: process.pid, execArgv: process.execArgv, argv: process.argv.slice(2), ' +
        'extraCa: process.env.NODE_EXTRA_CA_CERTS ?? null, kept: process.env.FC_DOUBLE_BACKEND ?? null }))',
    );
    const wrapper = path.join(directory, 'bin/firecracker');
    writeDoubleWrapper(wrapper, ['--max-semi-space-size=1', '--stack-size=900'], script);

    const { pid, stdout } = await run(wrapper, ['--api-sock', "/run/a socket's path", '--id', 'vm1'], {
      ...process.env,
      NODE_EXTRA_CA_CERTS: path.join(directory, 'ca.pem'),
      FC_DOUBLE_BACKEND: 'qemu',
    });

    expect(JSON.parse(stdout)).toEqual({
      // exec'd, not forked: the pid the Agent records is the double's.
      pid,
      execArgv: ['--max-semi-space-size=1', '--stack-size=900'],
      argv: ['--api-sock', "/run/a socket's path", '--id', 'vm1'],
      extraCa: null,
      kept: 'qemu',
    });
  });
});
