import { spawn } from 'node:child_process';
import { createNetns, missingRequirements, type Netns } from '@hearth/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isAppError } from '@hearth/errors';
import { IpBatch, IpBatchPool } from '../src/adapters/linux/ip-batch.js';

const skip = missingRequirements({ root: true, commands: ['ip'] });

async function failureOf(promise: Promise<unknown>): Promise<{ code: string; stderr: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    if (!isAppError(error)) throw error;
    return { code: error.code, stderr: String(error.diagnostics?.['stderr'] ?? ''), message: error.message };
  }
  throw new Error('expected a failure');
}

async function linkLine(netns: Netns, name: string): Promise<string> {
  return (await netns.exec(['ip', '-o', 'link', 'show', 'dev', name])).stdout;
}

describe.skipIf(skip !== undefined)(`IpBatch${skip === undefined ? '' : ` (skipped: ${skip})`}`, () => {
  let netns: Netns;
  let batch: IpBatch;

  beforeEach(async () => {
    netns = await createNetns();
    batch = new IpBatch({ netns: netns.name });
  });

  afterEach(async () => {
    await batch?.close();
    await netns?.destroy();
  });

  it('runs commands in the namespace and resolves each when it has ended', async () => {
    await batch.run(['link', 'add', 'name', 'hbr0', 'type', 'bridge']);
    await batch.run(['tuntap', 'add', 'dev', 'htap0', 'mode', 'tap']);
    await batch.run(['link', 'set', 'dev', 'htap0', 'alias', 'hearth:a:vm_1', 'master', 'hbr0', 'up']);

    expect(await linkLine(netns, 'htap0')).toMatch(/master hbr0.*alias hearth:a:vm_1/);
  });

  it('fails the one command that failed, with its stderr, and not those around it', async () => {
    const outcomes = await Promise.allSettled([
      batch.run(['link', 'add', 'name', 'hbr0', 'type', 'bridge']),
      batch.run(['link', 'set', 'dev', 'nosuchlink', 'up']),
      batch.run(['tuntap', 'add', 'dev', 'htap1', 'mode', 'tap']),
    ]);

    expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const failure = await failureOf(batch.run(['link', 'set', 'dev', 'nosuchlink', 'up']));
    expect(failure).toMatchObject({ code: 'HOST_COMMAND_FAILED' });
    expect(failure.stderr).toMatch(/Cannot find device "nosuchlink"/);
    expect(await linkLine(netns, 'htap1')).toMatch(/htap1/);
  });

  it('acts on a link deleted and made again under the same name, not on a remembered one', async () => {
    await batch.run(['link', 'add', 'name', 'hbr0', 'type', 'bridge']);
    await batch.run(['tuntap', 'add', 'dev', 'htap2', 'mode', 'tap']);
    await batch.run(['link', 'set', 'dev', 'htap2', 'alias', 'first', 'up']);
    await batch.run(['link', 'del', 'dev', 'htap2']);
    await batch.run(['tuntap', 'add', 'dev', 'htap9', 'mode', 'tap']);
    await batch.run(['tuntap', 'add', 'dev', 'htap2', 'mode', 'tap']);
    await batch.run(['link', 'set', 'dev', 'htap2', 'alias', 'second', 'master', 'hbr0', 'up']);

    expect(await linkLine(netns, 'htap2')).toMatch(/master hbr0.*alias second/);
    expect(await linkLine(netns, 'htap9')).not.toMatch(/alias/);
  });

  it('acts on a link another program deleted and made again, which the batch had looked up before', async () => {
    await batch.run(['link', 'add', 'name', 'hbr0', 'type', 'bridge']);
    await batch.run(['tuntap', 'add', 'dev', 'htap5', 'mode', 'tap']);
    // Naming the bridge as a master makes ip remember its index.
    await batch.run(['link', 'set', 'dev', 'htap5', 'master', 'hbr0']);
    // An operator replaces the bridge: a long-lived ip still knows the old one's index.
    await netns.exec(['ip', 'link', 'del', 'hbr0']);
    await netns.exec(['ip', 'link', 'add', 'name', 'hbr0', 'type', 'bridge']);

    await batch.run(['link', 'set', 'dev', 'hbr0', 'alias', 'again', 'up']);
    expect(await linkLine(netns, 'hbr0')).toMatch(/alias again/);
    await batch.run(['link', 'set', 'dev', 'htap5', 'master', 'hbr0', 'up']);
    expect(await linkLine(netns, 'htap5')).toMatch(/master hbr0/);
  });

  it('still fails a command whose link is missing for any ip', async () => {
    const failure = await failureOf(batch.run(['link', 'set', 'dev', 'hnothere', 'up']));
    expect(failure).toMatchObject({ code: 'HOST_COMMAND_FAILED' });
    expect(failure.stderr).toMatch(/Cannot find device "hnothere"/);
  });

  it('fails the commands in flight when the process dies, and starts a new one for the next', async () => {
    await batch.run(['link', 'add', 'name', 'hbr0', 'type', 'bridge']);
    const first = batch.pid;
    if (first === undefined) throw new Error('the batch process runs');
    // Stopped first, so the command is surely still in flight when the process dies.
    process.kill(first, 'SIGSTOP');
    const inFlight = batch.run(['tuntap', 'add', 'dev', 'htap3', 'mode', 'tap']);
    process.kill(first, 'SIGKILL');

    expect(await failureOf(inFlight)).toMatchObject({
      code: 'HOST_COMMAND_FAILED',
      message: expect.stringMatching(/signal SIGKILL/),
    });
    await batch.run(['tuntap', 'add', 'dev', 'htap4', 'mode', 'tap']);
    expect(batch.pid).not.toBe(first);
    expect(await linkLine(netns, 'htap4')).toMatch(/htap4/);
  });

  it('finishes closing in a process that nothing else keeps alive', async () => {
    // The compiled module (npm test builds first): a plain node process cannot load TypeScript.
    const moduleUrl = new URL('../dist/adapters/linux/ip-batch.js', import.meta.url).href;
    const script = [
      `const { IpBatch } = await import(${JSON.stringify(moduleUrl)});`,
      `const batch = new IpBatch({ netns: ${JSON.stringify(netns.name)} });`,
      "await batch.run(['link', 'set', 'dev', 'lo', 'up']);",
      'await batch.close();',
      "process.stdout.write('closed\\n');",
    ].join(' ');
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));

    // Before, the exit of `ip` was awaited with every handle unreferenced: the event loop ended
    // first, with the top-level await unsettled (exit status 13) and nothing printed.
    expect({ code, output }).toEqual({ code: 0, output: 'closed\n' });
  });

  it('refuses an argument that ip -batch would split or read as a quote or comment', async () => {
    for (const argument of ['two words', 'a"b', "it's", 'x#y', 'back\\slash', 'new\nline', '']) {
      expect(await failureOf(batch.run(['link', 'set', 'dev', argument, 'up']))).toMatchObject({ code: 'HOST_COMMAND_FAILED' });
    }
  });
});

describe.skipIf(skip !== undefined)(`IpBatchPool${skip === undefined ? '' : ` (skipped: ${skip})`}`, () => {
  let netns: Netns;
  let pool: IpBatchPool;

  beforeEach(async () => {
    netns = await createNetns();
    pool = new IpBatchPool({ netns: netns.name, processes: 3 });
  });

  afterEach(async () => {
    await pool?.close();
    await netns?.destroy();
  });

  it('makes TAPs asked for at once in several processes, each TAP marked and attached after it is made', async () => {
    await pool.run(['link', 'add', 'name', 'hbr0', 'type', 'bridge']);
    expect(pool.pids).toHaveLength(1);
    const names = Array.from({ length: 9 }, (_, i) => `hpool${i}`);
    await Promise.all(
      names.map(async (name) => {
        await pool.run(['tuntap', 'add', 'dev', name, 'mode', 'tap']);
        await pool.run(['link', 'set', 'dev', name, 'alias', `hearth:a:${name}`, 'master', 'hbr0', 'up']);
      }),
    );

    expect(new Set(pool.pids).size).toBe(3);
    for (const name of names) expect(await linkLine(netns, name)).toMatch(new RegExp(`master hbr0.*alias hearth:a:${name}`));
  });

  it('acts on a link that one process looked up and another deleted and made again', async () => {
    await pool.run(['link', 'add', 'name', 'hbr0', 'type', 'bridge']);
    // Three at once: each process takes one, and each looks hstale up.
    await pool.run(['tuntap', 'add', 'dev', 'hstale', 'mode', 'tap']);
    await Promise.all([0, 1, 2].map((i) => pool.run(['link', 'set', 'dev', 'hstale', 'alias', `seen${i}`])));
    expect(pool.pids).toHaveLength(3);
    await pool.run(['link', 'del', 'dev', 'hstale']);
    await pool.run(['tuntap', 'add', 'dev', 'hstale', 'mode', 'tap']);

    await Promise.all([0, 1, 2].map(() => pool.run(['link', 'set', 'dev', 'hstale', 'master', 'hbr0', 'up'])));
    expect(await linkLine(netns, 'hstale')).toMatch(/master hbr0/);
  });
});
