/**
 * The guest image's identity agent (`images/guest-agent/hearth-guest-agent.c`) outside a guest:
 * built for the host by the script the image's build uses, it runs in a network, mount and UTS
 * namespace this test makes, with an `eth0` of its own, against MMDS answered by the double's own
 * MMDS HTTP layer over the kernel's TCP (`fixtures/mmds-over-tcp.mjs`). A restore is what a VMM restored from
 * a snapshot is to the guest: new metadata, new tokens, and a reset for any connection from before.
 *
 * The real-guest tests (`qemu-backend.guest.test.ts`, `e2e/snapshots.guest.test.ts`) run the same
 * agent in a guest; this one shows in seconds how it talks to MMDS and what it changes.
 */
import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNetns, findCommand, isRoot, waitFor, type Netns } from '@hearth/testkit';
import { PKG_ROOT, REPO_ROOT } from './helpers.js';

const buildScript = join(REPO_ROOT, 'images/guest-agent/build.sh');
const fixture = join(PKG_ROOT, 'test/fixtures/mmds-over-tcp.mjs');
const notifyPeersSource = join(PKG_ROOT, 'test/fixtures/notify-peers.c');
const gateway = '10.9.0.1';

const skipReason = !isRoot
  ? 'needs root (network, mount and UTS namespaces)'
  : findCommand('gcc') === undefined
    ? 'gcc missing (apt-get install build-essential), needed to build the agent'
    : findCommand('unshare') === undefined
      ? 'unshare missing (util-linux)'
      : '';
if (skipReason) console.warn(`guest agent tests skipped: ${skipReason}`);

/** Metadata laid out as the Agent writes it (apps/agent/src/domain/guest-metadata.ts). */
function metadata(id: string, ip: string, hostname: string, mac: string, seed: string): unknown {
  const nic = { 'device-name': 'eth0', 'local-ipv4s': ip, 'ipv4-prefix-length': 16, gateway, 'dns-servers': [gateway] };
  return {
    latest: {
      'meta-data': {
        'instance-id': id,
        hostname,
        'local-hostname': hostname,
        'local-ipv4': ip,
        mac,
        network: { interfaces: { macs: { [mac]: nic } } },
        hearth: { 'entropy-seed': seed },
      },
    },
  };
}

interface MmdsStats {
  readonly connections: number;
  readonly requests: number;
  readonly statuses: Readonly<Record<string, number>>;
  /** Segments on a connection from before a restore, answered with a reset. */
  readonly resets: number;
}

/** The agent in namespaces of its own, against the MMDS stand-in, and what the tests read of it. */
interface AgentUnderTest {
  readonly netns: Netns;
  readonly mmds: ChildProcess;
  readonly agent: ChildProcess;
  readonly buildDir: string;
  readonly mmdsLines: string[];
}

/**
 * Builds the agent (with `gccFlags`), makes a network namespace with an `eth0` at 10.9.0.5 and MMDS
 * at 169.254.169.254 (the stand-in, with `first` as its metadata), and starts the agent there in a
 * mount and UTS namespace of its own.
 */
async function startAgent(first: unknown, gccFlags: readonly string[] = []): Promise<AgentUnderTest> {
  const buildDir = mkdtempSync(join(tmpdir(), 'hearth-guest-agent-'));
  const agentPath = join(buildDir, 'hearth-guest-agent');
  execFileSync('sh', [buildScript, agentPath, ...gccFlags], { stdio: 'inherit' });
  const netns = await createNetns();
  for (const argv of [
    ['ip', 'link', 'set', 'lo', 'up'],
    ['ip', 'addr', 'add', '169.254.169.254/32', 'dev', 'lo'],
    ['ip', 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'peer0'],
    ['ip', 'link', 'set', 'peer0', 'up'],
    ['ip', 'link', 'set', 'eth0', 'address', '06:00:0a:09:00:05', 'up'],
    ['ip', 'addr', 'add', '10.9.0.5/16', 'dev', 'eth0'],
    ['ip', 'route', 'add', 'default', 'via', gateway, 'dev', 'eth0'],
  ]) {
    await netns.exec(argv);
  }
  const mmdsLines: string[] = [];
  const mmds = netns.spawn([process.execPath, fixture, '169.254.169.254', '80', JSON.stringify(first)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  createInterface({ input: mmds.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    mmdsLines.push(line);
  });
  await waitFor(() => mmdsLines.includes('listening') || undefined, {
    timeoutMs: 10_000,
    intervalMs: 10,
    description: 'the MMDS stand-in listening',
  });
  // /run a tmpfs of its own and /dev/console a file in it: what the agent writes stays in its namespace.
  const setup = 'mount -t tmpfs tmpfs /run && : > /run/console && mount --bind /run/console /dev/console && exec "$0"';
  const agent = netns.spawn(['unshare', '--mount', '--uts', '--propagation', 'private', 'sh', '-c', setup, agentPath], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  return { netns, mmds, agent, buildDir, mmdsLines };
}

async function stopAgent(under: AgentUnderTest | undefined): Promise<void> {
  if (under === undefined) return;
  await under.netns.destroy();
  rmSync(under.buildDir, { recursive: true, force: true });
}

/** The counts of the MMDS stand-in. */
async function mmdsStats(under: AgentUnderTest): Promise<MmdsStats> {
  const seen = under.mmdsLines.length;
  under.mmds.stdin?.write(`${JSON.stringify({ stats: true })}\n`);
  const line = await waitFor(() => under.mmdsLines.slice(seen).find((l) => l.startsWith('{')), {
    timeoutMs: 5_000,
    intervalMs: 5,
    description: 'the counts of the MMDS stand-in',
  });
  return JSON.parse(line) as MmdsStats;
}

/** Builds the program that sends the report a guest's kernel sends when its VMM announces it. */
function buildNotifier(under: AgentUnderTest): string {
  const notifier = join(under.buildDir, 'notify-peers');
  execFileSync('gcc', ['-Wall', '-Wextra', '-o', notifier, notifyPeersSource], { stdio: 'inherit' });
  return notifier;
}

/** Restores the MMDS stand-in with `next` metadata, then sends the kernel's report that the VM moved. */
async function restoreAndReport(under: AgentUnderTest, notifier: string, next: unknown): Promise<void> {
  under.mmds.stdin?.write(`${JSON.stringify({ restore: next })}\n`);
  // The stand-in takes its commands in order: once it has counted, it has restored.
  await mmdsStats(under);
  // What virtio-net's guest announce makes the kernel report (a VMM that announces a restore).
  await under.netns.exec([notifier, 'eth0']);
}

/**
 * Restores the stand-in with `next`, reports the move and waits until the agent serves the identity
 * starting with `prefix`: the stand-in's counts before and after.
 */
async function movedTo(
  under: AgentUnderTest,
  notifier: string,
  next: unknown,
  prefix: string,
): Promise<{ before: MmdsStats; after: MmdsStats }> {
  const before = await mmdsStats(under);
  await restoreAndReport(under, notifier, next);
  await identityStartingWith(under, prefix, `the identity after the report (${prefix.trim()})`);
  return { before, after: await mmdsStats(under) };
}

/** What the agent serves as /identity, read in its own mount namespace. */
function identityOf(under: AgentUnderTest): string | undefined {
  try {
    return readFileSync(`/proc/${String(under.agent.pid)}/root/run/identity`, 'utf8');
  } catch {
    return undefined;
  }
}

async function identityStartingWith(under: AgentUnderTest, prefix: string, description: string): Promise<void> {
  await waitFor(() => (identityOf(under)?.startsWith(prefix) ? true : undefined), {
    timeoutMs: 15_000,
    intervalMs: 10,
    description,
  });
}

describe.skipIf(skipReason !== '')('the guest agent', () => {
  let under: AgentUnderTest;

  const stats = (): Promise<MmdsStats> => mmdsStats(under);
  const identity = (): string | undefined => identityOf(under);

  /** A file of the agent's mount namespace (its /run is a tmpfs of its own). */
  function fileOfAgent(file: string): string {
    return readFileSync(`/proc/${String(under.agent.pid)}/root${file}`, 'utf8');
  }

  /** The host name in the agent's UTS namespace. */
  function hostnameOfAgent(): string {
    return execFileSync('nsenter', ['-t', String(under.agent.pid), '-u', 'hostname'], { encoding: 'utf8' }).trim();
  }

  /** The agent's child processes: it starts none. */
  function children(): number[] {
    const pid = String(under.agent.pid);
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
  }

  async function inNetns(argv: string[]): Promise<string> {
    return (await under.netns.exec(argv)).stdout;
  }

  beforeAll(async () => {
    under = await startAgent(metadata('vm-a', '10.9.0.10', 'guest-a', '06:00:0a:09:00:0a', 'a'.repeat(64)));
  }, 30_000);

  afterAll(async () => {
    await stopAgent(under);
  });

  it('applies the identity it reads at boot, then polls over one connection, starting no process', async () => {
    await identityStartingWith(under, 'instance-id=vm-a ', 'the boot identity');
    expect(identity()).toBe('instance-id=vm-a host=guest-a addr=10.9.0.10/16 mac=06:00:0a:09:00:0a\n');
    expect(await inNetns(['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0'])).not.toContain('10.9.0.5/');
    expect(await inNetns(['ip', 'route', 'show', 'default'])).toContain(`default via ${gateway} dev eth0`);
    expect(hostnameOfAgent()).toBe('guest-a');
    expect(fileOfAgent('/run/resolv.conf')).toBe(`nameserver ${gateway}\n`);
    expect(fileOfAgent('/run/index.html')).toContain('HEARTH-GUEST-OK host=guest-a addr=10.9.0.10/16');
    expect(fileOfAgent('/run/console')).toBe('HEARTH-GUEST-IDENTITY instance-id=vm-a host=guest-a addr=10.9.0.10/16\n');

    const before = await stats();
    await waitFor(async () => ((await stats()).requests >= before.requests + 3 ? true : undefined), {
      timeoutMs: 10_000,
      intervalMs: 50,
      description: 'three more polls',
    });
    const after = await stats();
    expect(after.connections).toBe(before.connections);
    expect(children()).toEqual([]);
    expect(after.statuses['401'] ?? 0).toBe(0);
  }, 60_000);

  it('after a restore, takes the new identity on a new connection with no failed request first', async () => {
    const before = await stats();
    const next = metadata('vm-b', '10.9.0.11', 'guest-b', '06:00:0a:09:00:0b', 'b'.repeat(64));
    under.mmds.stdin?.write(`${JSON.stringify({ restore: next })}\n`);
    await identityStartingWith(under, 'instance-id=vm-b ', 'the identity after the restore');
    expect(identity()).toBe('instance-id=vm-b host=guest-b addr=10.9.0.11/16 mac=06:00:0a:09:00:0b\n');
    const addresses = await inNetns(['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
    expect(addresses).toContain('inet 10.9.0.11/16 ');
    expect(addresses).not.toContain('10.9.0.10/');
    // The old address went after the new one came: the default route stayed.
    expect(await inNetns(['ip', 'route', 'show', 'default'])).toContain(`default via ${gateway} dev eth0`);
    expect((await inNetns(['cat', '/sys/class/net/eth0/address'])).trim()).toBe('06:00:0a:09:00:0b');
    expect(children()).toEqual([]);
    expect(hostnameOfAgent()).toBe('guest-b');
    expect(fileOfAgent('/run/console')).toBe(
      'HEARTH-GUEST-IDENTITY instance-id=vm-a host=guest-a addr=10.9.0.10/16\n' +
        'HEARTH-GUEST-IDENTITY instance-id=vm-b host=guest-b addr=10.9.0.11/16\n',
    );

    const after = await stats();
    expect(after.connections).toBe(before.connections + 1);
    expect(after.statuses['401'] ?? 0).toBe(before.statuses['401'] ?? 0);
  }, 60_000);
});

describe.skipIf(skipReason !== '')('the guest agent, told that its VM moved', () => {
  // Polls an hour apart: a restore is seen in time only through the kernel's report of the move.
  let under: AgentUnderTest;
  let notifier: string;

  beforeAll(async () => {
    under = await startAgent(metadata('vm-c', '10.9.0.20', 'guest-c', '06:00:0a:09:00:14', 'c'.repeat(64)), [
      '-DPOLL_MS=3600000',
    ]);
    notifier = buildNotifier(under);
  }, 30_000);

  afterAll(async () => {
    await stopAgent(under);
  });

  it('takes the identity of a restore at the report that the VM moved, on a new connection, without asking on the old one', async () => {
    await identityStartingWith(under, 'instance-id=vm-c ', 'the boot identity');
    const next = metadata('vm-d', '10.9.0.21', 'guest-d', '06:00:0a:09:00:15', 'd'.repeat(64));
    const { before, after } = await movedTo(under, notifier, next, 'instance-id=vm-d ');
    expect(identityOf(under)).toBe('instance-id=vm-d host=guest-d addr=10.9.0.21/16 mac=06:00:0a:09:00:15\n');
    expect(after.connections).toBe(before.connections + 1);
    // A token and the metadata on the new connection; the old one was left without a request (its
    // reset would have cost a round trip).
    expect(after.resets).toBe(before.resets);
    expect(after.requests).toBe(before.requests + 2);
    expect(after.statuses['401'] ?? 0).toBe(before.statuses['401'] ?? 0);
  }, 60_000);

  it('restored in place (its identity kept, a new seed): reads the metadata at the report and rewrites nothing it serves', async () => {
    await identityStartingWith(under, 'instance-id=vm-d ', 'the identity before the restore in place');
    const served = ['/run/identity', '/run/index.html', '/run/console'].map((file) => ({
      file,
      text: readFileSync(`/proc/${String(under.agent.pid)}/root${file}`, 'utf8'),
      mtimeMs: statSync(`/proc/${String(under.agent.pid)}/root${file}`).mtimeMs,
    }));
    const before = await mmdsStats(under);
    const same = metadata('vm-d', '10.9.0.21', 'guest-d', '06:00:0a:09:00:15', 'e'.repeat(64));
    await restoreAndReport(under, notifier, same);
    // A token and the metadata on a new connection: the agent has read the new seed.
    const after = await waitFor(
      async () => {
        const now = await mmdsStats(under);
        return now.requests >= before.requests + 2 ? now : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 10, description: 'the metadata read after the report' },
    );
    expect(after.connections).toBe(before.connections + 1);
    expect(after.requests).toBe(before.requests + 2);
    expect(after.statuses['200']).toBe((before.statuses['200'] ?? 0) + 2);
    // A second report brings its next poll forward: once that is asked, the agent is done with the
    // metadata it read (it does one thing at a time).
    await under.netns.exec([notifier, 'eth0']);
    await waitFor(async () => ((await mmdsStats(under)).requests > after.requests ? true : undefined), {
      timeoutMs: 15_000,
      intervalMs: 10,
      description: 'the poll after the second report',
    });
    // The identity it serves, its page and its console are as they were: nothing was written again.
    for (const { file, text, mtimeMs } of served) {
      expect(readFileSync(`/proc/${String(under.agent.pid)}/root${file}`, 'utf8')).toBe(text);
      expect(statSync(`/proc/${String(under.agent.pid)}/root${file}`).mtimeMs).toBe(mtimeMs);
    }
  }, 60_000);
});

describe.skipIf(skipReason !== '')('the guest agent, cloned as soon as it is up', () => {
  // Polls an hour apart, and a report counted as the same move as another one within a minute: the
  // report below comes within that minute of the connection's opening at boot, and is the first.
  let under: AgentUnderTest;
  let notifier: string;

  beforeAll(async () => {
    under = await startAgent(metadata('vm-e', '10.9.0.30', 'guest-e', '06:00:0a:09:00:1e', 'e'.repeat(64)), [
      '-DPOLL_MS=3600000',
      '-DMOVE_REPORTS_MS=60000',
    ]);
    notifier = buildNotifier(under);
  }, 30_000);

  afterAll(async () => {
    await stopAgent(under);
  });

  it("takes a new connection at a move's first report however young its connection is, and keeps it at the next reports", async () => {
    await identityStartingWith(under, 'instance-id=vm-e ', 'the boot identity');
    const next = metadata('vm-f', '10.9.0.31', 'guest-f', '06:00:0a:09:00:1f', 'f'.repeat(64));
    const { before, after: first } = await movedTo(under, notifier, next, 'instance-id=vm-f ');
    // Nothing asked on the connection from before the move: a new one, a token and the metadata.
    expect(first.resets).toBe(before.resets);
    expect(first.connections).toBe(before.connections + 1);
    expect(first.requests).toBe(before.requests + 2);
    // The same move's next report (its VMM repeats the announce) brings the next poll forward on the
    // connection the first one opened.
    await under.netns.exec([notifier, 'eth0']);
    const second = await waitFor(
      async () => {
        const now = await mmdsStats(under);
        return now.requests > first.requests ? now : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 10, description: 'the poll after the second report' },
    );
    expect(second.connections).toBe(first.connections);
    expect(second.requests).toBe(first.requests + 1);
    expect(second.resets).toBe(before.resets);
    expect(second.statuses['401'] ?? 0).toBe(before.statuses['401'] ?? 0);
  }, 60_000);
});

describe.skipIf(skipReason !== '')('the guest agent at rest, by what its NIC negotiated', () => {
  // Its NIC's features read from a file of the test's: bit 21, the guest announce, set or not.
  const featuresDir = mkdtempSync(join(tmpdir(), 'hearth-guest-agent-features-'));
  const features = (isAnnounced: boolean): string => {
    const file = join(featuresDir, isAnnounced ? 'announced' : 'plain');
    writeFileSync(file, `${'1'.repeat(21)}${isAnnounced ? '1' : '0'}${'0'.repeat(42)}\n`);
    return file;
  };
  const atRestMs = 4_000;
  let announced: AgentUnderTest | undefined;
  let plain: AgentUnderTest | undefined;

  afterAll(async () => {
    await stopAgent(announced);
    await stopAgent(plain);
    rmSync(featuresDir, { recursive: true, force: true });
  });

  /** How many questions the agent asked MMDS in `atRestMs` once it showed its identity. */
  async function questionsAtRest(under: AgentUnderTest, id: string): Promise<number> {
    await identityStartingWith(under, `instance-id=${id} `, 'the boot identity');
    const before = await mmdsStats(under);
    await new Promise((resolve) => setTimeout(resolve, atRestMs));
    return (await mmdsStats(under)).requests - before.requests;
  }

  it('asks MMDS every two seconds where its VMM reports a move, and takes a restore at the report at once', async () => {
    announced = await startAgent(metadata('vm-g', '10.9.0.40', 'guest-g', '06:00:0a:09:00:28', 'a'.repeat(64)), [
      `-DFEATURES_PATH="${features(true)}"`,
    ]);
    expect(await questionsAtRest(announced, 'vm-g')).toBeLessThanOrEqual(3);
    const next = metadata('vm-h', '10.9.0.41', 'guest-h', '06:00:0a:09:00:29', 'b'.repeat(64));
    const { before, after } = await movedTo(announced, buildNotifier(announced), next, 'instance-id=vm-h ');
    // Taken at the report, not at the next poll: a poll would have asked on the connection from
    // before the restore first, and been reset.
    expect(after.resets).toBe(before.resets);
    expect(after.connections).toBe(before.connections + 1);
  }, 60_000);

  it('asks MMDS five times a second where its VMM does not', async () => {
    plain = await startAgent(metadata('vm-i', '10.9.0.42', 'guest-i', '06:00:0a:09:00:2a', 'c'.repeat(64)), [
      `-DFEATURES_PATH="${features(false)}"`,
    ]);
    expect(await questionsAtRest(plain, 'vm-i')).toBeGreaterThanOrEqual(8);
  }, 60_000);
});
