import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createNetns, missingRequirements, type Netns } from '@hearth/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CommandOutput, CommandRunner } from '../src/application/ports/command-runner.js';
import { ExecFileCommandRunner } from '../src/adapters/linux/exec-file-command-runner.js';
import { IpJsonReader } from '../src/adapters/linux/ip-json-reader.js';
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

describe.skipIf(skip !== undefined).each([
  { changes: 'as lines', hasFiles: false },
  { changes: 'as files nft includes', hasFiles: true },
])(`NftSession, changes $changes${skip === undefined ? '' : ` (skipped: ${skip})`}`, ({ hasFiles }) => {
  let netns: Netns;
  let session: NftSession;
  let directory: string;

  beforeEach(async () => {
    netns = await createNetns();
    directory = await mkdtemp(path.join(tmpdir(), 'hearth-nft-session-'));
    session = new NftSession({
      prefix: ['ip', 'netns', 'exec', netns.name],
      ...(hasFiles ? { scriptDirectory: path.join(directory, 'nft-scripts') } : {}),
    });
  });

  afterEach(async () => {
    await session?.close();
    await netns?.destroy();
    await rm(directory, { recursive: true, force: true });
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

  // Only lines are bounded by what one pipe write holds; a change sent as a file is not (below), and only a
  // file can hold a comment or an include's transaction: each mode gets the tests that apply to it.
  if (!hasFiles)
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
    if (hasFiles) {
      // The killed process's file is gone; the new one has a file of its own, under a new name.
      const files = await readdir(path.join(directory, 'nft-scripts'));
      expect(files).toHaveLength(1);
      expect(files[0]).toMatch(/^script-[0-9a-f]{16}-1\.nft$/);
      await session.close();
      expect(await readdir(path.join(directory, 'nft-scripts'))).toEqual([]);
    }
  });

  if (hasFiles)
    it('applies a script of any length, comments included, from one file per process, removed with it', async () => {
      const long = Array.from({ length: 200 }, (_, index) => `add element bridge t s { "tap${index}" }`).join('\n');
      expect(Buffer.byteLength(long)).toBeGreaterThan(maxLineBytes);

      const outcomes = await Promise.all([
        session.run(`${table}\n# a comment\n${long}`),
        session.run('add element bridge t s { "a" }\nadd element bridge t nothere { "b" }'),
      ]);

      expect(outcomes[0]).toEqual({ kind: 'output', stdout: '' });
      expect(outcomes[1]).toMatchObject({ kind: 'failed', stderr: expect.stringMatching(/No such file or directory/) });
      expect(elementsOf(await session.run('list table bridge t', true))).toHaveLength(200);
      // A short change after a long one: the file written over holds that change alone.
      expect(await session.run('add element bridge t s { "b" }')).toEqual({ kind: 'output', stdout: '' });
      const files = await readdir(path.join(directory, 'nft-scripts'));
      expect(files).toHaveLength(1);
      const file = path.join(directory, 'nft-scripts', files[0]!);
      expect(await readFile(file, 'utf8')).toBe('add element bridge t s { "b" }\n');
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      expect((await stat(path.join(directory, 'nft-scripts'))).mode & 0o777).toBe(0o700);
      await session.close();
      expect(await readdir(path.join(directory, 'nft-scripts'))).toEqual([]);
    });

  if (hasFiles)
    it('applies nothing of an included script whose commit the kernel refuses part way', async () => {
      await session.run(table);

      // The element to delete is not there: nft finds that only when the kernel runs the transaction.
      const outcome = await session.run('add element bridge t s { "a" }\ndelete element bridge t s { "nothere" }');

      expect(outcome).toMatchObject({ kind: 'failed', stderr: expect.stringMatching(/Could not process rule/) });
      expect(elementsOf(await session.run('list table bridge t', true))).toEqual([]);
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

describe.skipIf(skip !== undefined)(`NftSession's script directory${skip === undefined ? '' : ` (skipped: ${skip})`}`, () => {
  let netns: Netns;
  let directory: string;

  beforeEach(async () => {
    netns = await createNetns();
    directory = await mkdtemp(path.join(tmpdir(), 'hearth-nft-session-'));
  });

  afterEach(async () => {
    await netns.destroy();
    await rm(directory, { recursive: true, force: true });
  });

  it('removes the script files an earlier process left there, and nothing else', async () => {
    const scripts = path.join(directory, 'nft-scripts');
    await mkdir(scripts, { mode: 0o700 });
    await writeFile(path.join(scripts, 'script-0123456789abcdef-7.nft'), 'add table bridge left\n');
    await writeFile(path.join(scripts, 'notes.txt'), 'kept\n');

    const session = new NftSession({ prefix: ['ip', 'netns', 'exec', netns.name], scriptDirectory: scripts });
    try {
      expect(await readdir(scripts)).toEqual(['notes.txt']);
      expect(await session.run(table)).toEqual({ kind: 'output', stdout: '' });
    } finally {
      await session.close();
    }
  });

  it('sends changes as lines where nft could not be told the path, or others may write there', async () => {
    const quoted = path.join(directory, 'a"b');
    const shared = path.join(directory, 'shared');
    await mkdir(shared, { mode: 0o777 });
    await chmod(shared, 0o777);
    const long = Array.from({ length: 200 }, (_, index) => `add element bridge t s { "tap${index}" }`).join('\n');

    for (const scriptDirectory of [quoted, shared, 'relative']) {
      const session = new NftSession({ prefix: ['ip', 'netns', 'exec', netns.name], scriptDirectory });
      try {
        expect(await session.run(`${table}\n${long}`)).toMatchObject({ kind: 'unavailable' });
        expect(await session.run(table)).toEqual({ kind: 'output', stdout: '' });
      } finally {
        await session.close();
      }
    }
    expect((await readdir(directory)).sort()).toEqual(['shared']);
  });
});

describe.skipIf(skip !== undefined)(
  `IPv4 forwarding as NftHostFirewall reads it${skip === undefined ? '' : ` (skipped: ${skip})`}`,
  () => {
    it("reads the bridge's setting from /proc/sys files without a fork, and ip_forward before the bridge exists", async () => {
      const runner = new CountingRunner();
      const directory = await mkdtemp(path.join(tmpdir(), 'hearth-forwarding-'));
      try {
        const firewall = new NftHostFirewall(runner, { forwarding: { bridge: 'fcbr0', procIpv4Dir: directory } });
        await writeFile(path.join(directory, 'ip_forward'), '1\n');
        const beforeTheBridge = await firewall.isForwardingEnabled();
        await mkdir(path.join(directory, 'conf', 'fcbr0'), { recursive: true });
        await writeFile(path.join(directory, 'conf', 'fcbr0', 'forwarding'), '0\n');
        const offOnTheBridge = await firewall.isForwardingEnabled();
        await writeFile(path.join(directory, 'conf', 'fcbr0', 'forwarding'), '1\n');
        await writeFile(path.join(directory, 'ip_forward'), '0\n');
        const onOnTheBridge = await firewall.isForwardingEnabled();

        expect([beforeTheBridge, offOnTheBridge, onOnTheBridge]).toEqual([true, false, true]);
        expect(runner.count).toBe(0);
      } finally {
        await rm(directory, { recursive: true, force: true });
      }
    });

    describe('in another namespace', () => {
      let netns: Netns;
      let reader: IpJsonReader;

      beforeEach(async () => {
        netns = await createNetns();
        reader = new IpJsonReader({ netns: netns.name, isDetailed: false });
      });

      afterEach(async () => {
        await reader.close();
        await netns.destroy();
      });

      it("reads the bridge's setting through the long-lived ip reader, as sysctl there reads it, without a fork", async () => {
        const runner = new CountingRunner();
        const firewall = new NftHostFirewall(runner, { netns: netns.name, forwarding: { bridge: 'fcbr-t', reader } });
        await netns.exec(['ip', 'link', 'add', 'fcbr-t', 'type', 'bridge']);

        const seen: boolean[] = [];
        for (const value of ['0', '1', '0']) {
          await netns.exec(['sysctl', '-qw', `net.ipv4.conf.fcbr-t.forwarding=${value}`]);
          seen.push(await firewall.isForwardingEnabled());
        }

        expect(seen).toEqual([false, true, false]);
        expect(runner.count).toBe(0);
      });

      it('reads net.ipv4.ip_forward there with sysctl before the bridge exists', async () => {
        const runner = new CountingRunner();
        const firewall = new NftHostFirewall(runner, { netns: netns.name, forwarding: { bridge: 'fcbr-t', reader } });

        await netns.exec(['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
        const on = await firewall.isForwardingEnabled();
        await netns.exec(['sysctl', '-qw', 'net.ipv4.ip_forward=0']);
        const off = await firewall.isForwardingEnabled();

        expect([on, off]).toEqual([true, false]);
        expect(runner.count).toBe(2);
      });

      it("answers the new bridge's setting after the bridge was deleted and made anew", async () => {
        const runner = new CountingRunner();
        const firewall = new NftHostFirewall(runner, { netns: netns.name, forwarding: { bridge: 'fcbr-t', reader } });
        await netns.exec(['ip', 'link', 'add', 'fcbr-t', 'type', 'bridge']);
        await netns.exec(['sysctl', '-qw', 'net.ipv4.conf.fcbr-t.forwarding=1']);
        expect(await firewall.isForwardingEnabled()).toBe(true);

        await netns.exec(['ip', 'link', 'del', 'fcbr-t']);
        await netns.exec(['sysctl', '-qw', 'net.ipv4.conf.default.forwarding=0']);
        await netns.exec(['ip', 'link', 'add', 'fcbr-t', 'type', 'bridge']);
        const answers: boolean[] = [];
        for (let attempt = 0; attempt < 2; attempt += 1) answers.push(await firewall.isForwardingEnabled());

        expect(answers.at(-1)).toBe(false);
      });
    });
  },
);
