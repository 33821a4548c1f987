import { createNetns, missingRequirements, type Netns } from '@hearth/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CommandOutput, CommandRunner } from '../src/application/ports/command-runner.js';
import { ExecFileCommandRunner } from '../src/adapters/linux/exec-file-command-runner.js';
import { IpJsonReader } from '../src/adapters/linux/ip-json-reader.js';
import { LinuxHostNetwork } from '../src/adapters/linux/linux-host-network.js';

const skip = missingRequirements({ root: true, commands: ['ip'] });

/** Runs commands in the namespace and counts them: each is a fork the reader did not save. */
class CountingRunner implements CommandRunner {
  count = 0;
  private readonly inner: CommandRunner;
  constructor(netns: Netns) {
    this.inner = new ExecFileCommandRunner({ prefix: ['ip', 'netns', 'exec', netns.name] });
  }
  run(argv: readonly string[]): Promise<CommandOutput> {
    this.count += 1;
    return this.inner.run(argv);
  }
}

function ifnamesOf(outcome: Awaited<ReturnType<IpJsonReader['read']>>): string[] {
  if (outcome.kind !== 'output') throw new Error(`expected output, got ${JSON.stringify(outcome)}`);
  return (JSON.parse(outcome.stdout) as { ifname?: string }[]).map((link) => link.ifname ?? '');
}

describe.skipIf(skip !== undefined)(`IpJsonReader${skip === undefined ? '' : ` (skipped: ${skip})`}`, () => {
  let netns: Netns;
  let reader: IpJsonReader;

  beforeEach(async () => {
    netns = await createNetns();
    reader = new IpJsonReader({ netns: netns.name });
  });

  afterEach(async () => {
    await reader?.close();
    await netns?.destroy();
  });

  it('answers each read with its own output, failures among them, in one process', async () => {
    await netns.exec(['ip', 'link', 'add', 'hbr0', 'type', 'bridge']);
    const outcomes = await Promise.all([
      reader.read(['addr', 'show', 'dev', 'hbr0']),
      reader.read(['addr', 'show', 'dev', 'hnothere']),
      reader.read(['link', 'show']),
      reader.read(['addr', 'show', 'dev', 'lo']),
    ]);
    const pid = reader.pid;

    expect(ifnamesOf(outcomes[0]!)).toEqual(['hbr0']);
    expect(outcomes[1]).toMatchObject({ kind: 'failed', stderr: expect.stringMatching(/"hnothere" does not exist/) });
    expect(ifnamesOf(outcomes[2]!).sort()).toEqual(['hbr0', 'lo']);
    expect(ifnamesOf(outcomes[3]!)).toEqual(['lo']);
    expect(ifnamesOf(await reader.read(['link', 'show']))).toHaveLength(2);
    expect(reader.pid).toBe(pid);
  });

  it('sees links made after it started', async () => {
    expect(ifnamesOf(await reader.read(['link', 'show']))).toEqual(['lo']);
    await netns.exec(['ip', 'link', 'add', 'hbr1', 'type', 'bridge']);
    expect(ifnamesOf(await reader.read(['link', 'show'])).sort()).toEqual(['hbr1', 'lo']);
  });

  it('answers unavailable when its process dies, and starts a new one for the next read', async () => {
    await reader.read(['link', 'show']);
    const first = reader.pid;
    if (first === undefined) throw new Error('the reader runs');
    process.kill(first, 'SIGSTOP');
    const inFlight = reader.read(['link', 'show']);
    process.kill(first, 'SIGKILL');

    expect(await inFlight).toMatchObject({ kind: 'unavailable', reason: expect.stringMatching(/SIGKILL/) });
    expect(ifnamesOf(await reader.read(['link', 'show']))).toEqual(['lo']);
    expect(reader.pid).not.toBe(first);
  });

  it('answers unavailable rather than hold a read longer than its timeout', async () => {
    const slow = new IpJsonReader({ netns: netns.name, timeoutMs: 200 });
    try {
      await slow.read(['link', 'show']);
      const pid = slow.pid;
      if (pid === undefined) throw new Error('the reader runs');
      process.kill(pid, 'SIGSTOP');
      expect(await slow.read(['link', 'show'])).toMatchObject({
        kind: 'unavailable',
        reason: expect.stringMatching(/no answer/),
      });
    } finally {
      await slow.close();
    }
  });

  it('answers a command that ends ip unavailable, and the reads after it from a new process', async () => {
    const outcomes = await Promise.all([
      reader.read(['addr', 'show', 'dev', 'lo', 'scope', 'nonsense']),
      reader.read(['addr', 'show', 'dev', 'lo']),
    ]);
    expect(outcomes.map((outcome) => outcome.kind)).toEqual(['unavailable', 'unavailable']);
    expect(ifnamesOf(await reader.read(['addr', 'show', 'dev', 'lo']))).toEqual(['lo']);
  });

  it('answers unavailable for an argument a batch line cannot hold', async () => {
    for (const argument of ['two words', 'a"b', 'x#y', '']) {
      expect(await reader.read(['addr', 'show', 'dev', argument])).toMatchObject({ kind: 'unavailable' });
    }
  });

  describe('behind LinuxHostNetwork', () => {
    it('reads the bridge and the marked links with no fork', async () => {
      const runner = new CountingRunner(netns);
      const network = new LinuxHostNetwork(runner, { reader });
      await netns.exec(['ip', 'link', 'add', 'hbr2', 'type', 'bridge']);
      await netns.exec(['ip', 'link', 'set', 'dev', 'hbr2', 'alias', 'hearth:x:vm_1', 'up']);

      expect(await network.linkState('hbr2')).toMatchObject({ name: 'hbr2', isUp: true, alias: 'hearth:x:vm_1' });
      expect(await network.linkState('hnothere')).toBeNull();
      expect(await network.markedLinks('hearth:x:')).toEqual([{ name: 'hbr2', alias: 'hearth:x:vm_1' }]);
      expect(runner.count).toBe(0);
    });

    it('used for the list of every link only: the marked links with no fork, a link by its name by a fork', async () => {
      const runner = new CountingRunner(netns);
      // As the Agent runs it: without details.
      const undetailed = new IpJsonReader({ netns: netns.name, isDetailed: false });
      // Every list read again (none kept), so that each one is the reader's.
      const network = new LinuxHostNetwork(runner, { reader: undetailed, readerUse: 'link-list', markedLinksMaxAgeMs: 0 });
      try {
        await netns.exec(['ip', 'link', 'add', 'hbr4', 'type', 'bridge']);
        await netns.exec(['ip', 'link', 'set', 'dev', 'hbr4', 'alias', 'hearth:x:vm_4', 'up']);

        expect(await network.markedLinks('hearth:x:')).toEqual([{ name: 'hbr4', alias: 'hearth:x:vm_4' }]);
        expect(await network.markedLinks('hearth:y:')).toEqual([]);
        expect(runner.count).toBe(0);
        expect(await network.linkState('hbr4')).toMatchObject({ name: 'hbr4', isUp: true, alias: 'hearth:x:vm_4' });
        expect(await network.linkState('hnothere')).toBeNull();
        expect(runner.count).toBe(2);
        // A marked link deleted since the reader's last list is gone from its next one.
        await netns.exec(['ip', 'link', 'del', 'hbr4']);
        expect(await network.markedLinks('hearth:x:')).toEqual([]);
        expect(runner.count).toBe(2);
      } finally {
        await undetailed.close();
      }
    });

    it('reads a link another program deleted and made again, which the reader had looked up before', async () => {
      const runner = new CountingRunner(netns);
      const network = new LinuxHostNetwork(runner, { reader });
      await netns.exec(['ip', 'link', 'add', 'hbr3', 'type', 'bridge']);
      expect(await network.linkState('hbr3')).toMatchObject({ alias: null });
      await netns.exec(['ip', 'link', 'del', 'hbr3']);
      await netns.exec(['ip', 'link', 'add', 'hbr3', 'type', 'bridge']);
      await netns.exec(['ip', 'link', 'set', 'dev', 'hbr3', 'alias', 'again']);

      expect(await network.linkState('hbr3')).toMatchObject({ name: 'hbr3', alias: 'again' });
      // Once, by a fork; then by a new reader that looked the new link up afresh.
      expect(await network.linkState('hbr3')).toMatchObject({ name: 'hbr3', alias: 'again' });
      expect(runner.count).toBe(1);
    });
  });
});
