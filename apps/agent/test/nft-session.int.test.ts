import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createNetns, missingRequirements, type Netns } from '@hearth/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CommandOutput, CommandRunner } from '../src/application/ports/command-runner.js';
import { ExecFileCommandRunner } from '../src/adapters/linux/exec-file-command-runner.js';
import { NftHostFirewall } from '../src/adapters/linux/nft-host-firewall.js';
import { maxLineBytes, NftSession, type NftOutcome } from '../src/adapters/linux/nft-session.js';
import { vmGuardScript } from '../src/domain/egress-rules.js';

const skip = missingRequirements({ root: true, commands: ['ip', 'nft'] });

/** Runs commands in the namespace and counts them: each is a fork the session did not save. */
class CountingRunner implements CommandRunner {
  count = 0;
  private readonly inner = new ExecFileCommandRunner();
  run(argv: readonly string[]): Promise<CommandOutput> {
    this.count += 1;
    return this.inner.run(argv);
  }
}

function elementsOf(outcome: NftOutcome): string[] {
  if (outcome.kind !== 'output') throw new Error(`expected output, got ${JSON.stringify(outcome)}`);
  const objects = (JSON.parse(outcome.stdout) as { nftables: { set?: { elem?: string[] } }[] }).nftables;
  return objects.flatMap((object) => object.set?.elem ?? []);
}

const table = 'add table bridge t\nadd set bridge t s { type ifname ; }';

describe.skipIf(skip !== undefined)(`NftSession${skip === undefined ? '' : ` (skipped: ${skip})`}`, () => {
  let netns: Netns;
  let session: NftSession;

  beforeEach(async () => {
    netns = await createNetns();
    session = new NftSession({ prefix: ['ip', 'netns', 'exec', netns.name] });
  });

  afterEach(async () => {
    await session?.close();
    await netns?.destroy();
  });

  it('answers changes, reads and failures, each in turn, in one process', async () => {
    const outcomes = await Promise.all([
      session.run('list table bridge t', true),
      session.run(`${table}\nadd element bridge t s { "a" }`),
      session.run('list table bridge t', true),
      session.run('add element bridge nothere s { "b" }'),
    ]);
    const pid = session.pid;

    expect(outcomes[0]).toMatchObject({ kind: 'failed', stderr: expect.stringMatching(/No such file or directory/) });
    expect(outcomes[1]).toEqual({ kind: 'output', stdout: '' });
    expect(elementsOf(outcomes[2]!)).toEqual(['a']);
    expect(outcomes[3]).toMatchObject({ kind: 'failed', stderr: expect.stringMatching(/No such file or directory/) });
    expect(elementsOf(await session.run('list table bridge t', true))).toEqual(['a']);
    expect(session.pid).toBe(pid);
  });

  it('applies a script as one transaction: one that fails part way changes nothing', async () => {
    await session.run(table);

    const outcome = await session.run('add element bridge t s { "a" }\nadd element bridge t nothere { "b" }');

    expect(outcome.kind).toBe('failed');
    expect(elementsOf(await session.run('list table bridge t', true))).toEqual([]);
  });

  it('sees what another nft changed after it started', async () => {
    await session.run(table);
    await netns.exec(['nft', 'add element bridge t s { "other" }']);

    expect(elementsOf(await session.run('list table bridge t', true))).toEqual(['other']);
  });

  it('sends no script one line cannot hold, and no longer one than a single pipe write', async () => {
    const long = Array.from({ length: 200 }, (_, index) => `add element bridge t s { "tap${index}" }`).join('\n');

    expect(await session.run(`${table}\n# a comment`)).toMatchObject({ kind: 'unavailable' });
    expect(Buffer.byteLength(long)).toBeGreaterThan(maxLineBytes);
    expect(await session.run(`${table}\n${long}`)).toMatchObject({ kind: 'unavailable' });
    expect((await session.run('list table bridge t', true)).kind).toBe('failed');
  });

  it('starts a new process after one was killed', async () => {
    await session.run(table);
    const pid = session.pid;
    expect(pid).toBeDefined();
    process.kill(pid!, 'SIGKILL');

    // The command sent to the dead process may fail; the one after it runs in a new process.
    await session.run('add element bridge t s { "a" }');
    await session.run('add element bridge t s { "a" }');

    expect(elementsOf(await session.run('list table bridge t', true))).toEqual(['a']);
    expect(session.pid).not.toBe(pid);
  });

  it('answers unavailable, without sending the script, where nft cannot run a session', async () => {
    const broken = new NftSession({ prefix: ['ip', 'netns', 'exec', netns.name], nftBin: 'false' });

    expect(await broken.run(table)).toMatchObject({ kind: 'unavailable' });
    expect(await broken.run('list table bridge t', true)).toMatchObject({ kind: 'unavailable' });
    expect(broken.pid).toBeUndefined();
  });

  it("gives NftHostFirewall a VM's guard and the reads around it without a fork, and forks where it cannot", async () => {
    const runner = new CountingRunner();
    const firewall = new NftHostFirewall(runner, { netns: netns.name, session });
    const vm = { vmId: 'vm_01JABCDEFGHJKMNPQRSTVWXYZ0', address: '172.30.0.5' };
    const guard = { tap: 'fctest0', mac: '06:00:ac:10:00:05', sharedSet: null };

    await firewall.apply(vmGuardScript('hearth', { ...vm, guard }, await firewall.readTable('hearth', 'bridge')));
    const state = await firewall.readTable('hearth');
    expect(runner.count).toBe(0);
    expect(state.guardElements).toEqual([{ tap: 'fctest0', chain: vm.vmId }]);

    const broken = new NftHostFirewall(runner, {
      netns: netns.name,
      session: new NftSession({ prefix: ['ip', 'netns', 'exec', netns.name], nftBin: 'false' }),
    });
    expect((await broken.readTable('hearth', 'bridge')).guardElements).toEqual(state.guardElements);
    expect(runner.count).toBe(1);
  });
});

describe.skipIf(skip !== undefined)(
  `NftHostFirewall in its own namespace${skip === undefined ? '' : ` (skipped: ${skip})`}`,
  () => {
    it('reads IPv4 forwarding from the file it is given without a fork, as sysctl reads it, and through sysctl otherwise', async () => {
      const runner = new CountingRunner();
      const { stdout } = await new ExecFileCommandRunner().run(['sysctl', '-n', 'net.ipv4.ip_forward']);

      const directory = await mkdtemp(path.join(tmpdir(), 'hearth-forwarding-'));
      try {
        const file = path.join(directory, 'ip_forward');
        await writeFile(file, '1\n');
        const on = await new NftHostFirewall(runner, { forwardingFile: file }).isForwardingEnabled();
        await writeFile(file, '0\n');
        const off = await new NftHostFirewall(runner, { forwardingFile: file }).isForwardingEnabled();

        expect([on, off]).toEqual([true, false]);
        const procFile = { forwardingFile: '/proc/sys/net/ipv4/ip_forward' };
        expect(await new NftHostFirewall(runner, procFile).isForwardingEnabled()).toBe(stdout.trim() === '1');
        expect(runner.count).toBe(0);
        // Without the file (a runner that may enter another namespace), sysctl runs through the runner.
        expect(await new NftHostFirewall(runner).isForwardingEnabled()).toBe(stdout.trim() === '1');
        expect(runner.count).toBe(1);
      } finally {
        await rm(directory, { recursive: true, force: true });
      }
    });
  },
);
