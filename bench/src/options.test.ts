import { describe, expect, it } from 'vitest';
import { parseOptions, UsageError } from './options.js';

describe('parseOptions', () => {
  it('uses the full run defaults with no options', () => {
    expect(parseOptions([])).toEqual({
      isQuick: false,
      jsonFile: null,
      latencyCount: 100,
      networkCount: 50,
      egress: 'off',
      throughputCount: 500,
      concurrencies: [1, 10, 50],
      listRows: 10_000,
      listRequests: 500,
      restWindows: { count: 2, seconds: 5 },
      eventCount: 30,
      qemuCount: 3,
      snapshotRounds: 4,
      warmupRounds: 1,
      cloneCount: 10,
      settleMs: 0,
      vmmPoolSize: 10,
      minMemAvailableMib: 6_144,
      doubleNodeFlags: [],
      managerMain: null,
      agentMain: null,
      agentCpuProfDir: null,
      managerCpuProfDir: null,
    });
  });

  it('runs the main stack with egress through NAT with --egress nat, and refuses another mode', () => {
    expect(parseOptions(['--egress', 'nat'])).toMatchObject({ egress: 'nat' });
    expect(() => parseOptions(['--egress', 'on'])).toThrow(UsageError);
  });

  it('uses the small defaults with --quick, wherever it stands', () => {
    expect(parseOptions(['--latency', '7', '--quick'])).toMatchObject({
      isQuick: true,
      latencyCount: 7,
      networkCount: 5,
      throughputCount: 20,
      concurrencies: [1, 10],
      listRows: 1_000,
      listRequests: 100,
      restWindows: { count: 1, seconds: 1 },
      eventCount: 5,
      qemuCount: 0,
      snapshotRounds: 0,
    });
  });

  it('keeps as many warm VMMs as a round has clones unless told otherwise', () => {
    expect(parseOptions(['--clones', '4'])).toMatchObject({ cloneCount: 4, vmmPoolSize: 4 });
    expect(parseOptions(['--clones', '4', '--vmm-pool', '0'])).toMatchObject({ cloneCount: 4, vmmPoolSize: 0 });
  });

  it('reads every option', () => {
    expect(
      parseOptions([
        '--json',
        'out.json',
        '--latency',
        '3',
        '--network',
        '0',
        '--egress',
        'nat',
        '--vms',
        '40',
        '--concurrency',
        '2,4',
        '--rows',
        '50',
        '--qemu',
        '0',
        '--snapshots',
        '2',
        '--clones',
        '0',
        '--settle-ms',
        '3000',
        '--warmup-rounds',
        '2',
        '--vmm-pool',
        '10',
        '--min-mem-available',
        '0',
        '--double-node-flags',
        ' --a  --b ',
        '--manager-main',
        '/tmp/main.js',
        '--agent-main',
        '/tmp/agent.mjs',
        '--agent-cpu-prof',
        '/tmp/profiles',
        '--manager-cpu-prof',
        '/tmp/manager-profiles',
      ]),
    ).toEqual({
      isQuick: false,
      jsonFile: 'out.json',
      latencyCount: 3,
      networkCount: 0,
      egress: 'nat',
      throughputCount: 40,
      concurrencies: [2, 4],
      listRows: 50,
      listRequests: 500,
      restWindows: { count: 2, seconds: 5 },
      eventCount: 30,
      qemuCount: 0,
      snapshotRounds: 2,
      cloneCount: 0,
      warmupRounds: 2,
      settleMs: 3000,
      vmmPoolSize: 10,
      minMemAvailableMib: 0,
      doubleNodeFlags: ['--a', '--b'],
      managerMain: '/tmp/main.js',
      agentMain: '/tmp/agent.mjs',
      agentCpuProfDir: '/tmp/profiles',
      managerCpuProfDir: '/tmp/manager-profiles',
    });
  });

  it('takes Node flags, which start with a dash, as the value of --double-node-flags', () => {
    expect(parseOptions(['--double-node-flags', '--lite-mode', '--quick'])).toMatchObject({
      doubleNodeFlags: ['--lite-mode'],
      isQuick: true,
    });
    expect(parseOptions(['--double-node-flags=--jitless --lite-mode'])).toMatchObject({
      doubleNodeFlags: ['--jitless', '--lite-mode'],
    });
  });

  it.each([['--help'], ['-h'], ['--vms', '3', '--help']])('returns null for %s', (...argv) => {
    expect(parseOptions(argv)).toBeNull();
  });

  it.each([
    [['--latency', '0'], /--latency needs a positive integer/],
    [['--vms', '1.5'], /--vms needs a positive integer/],
    [['--concurrency', '1,,2'], /--concurrency needs a positive integer/],
    [['--qemu', '-1'], /--qemu/],
    [['--snapshots', 'x'], /--snapshots needs a non-negative integer/],
    [['--json'], /--json/],
    [['--manager-main'], /--manager-main/],
    [['--frobnicate'], /--frobnicate/],
    [['stray'], /stray/],
  ])('refuses %j', (argv, message) => {
    expect(() => parseOptions(argv)).toThrow(UsageError);
    expect(() => parseOptions(argv)).toThrow(message);
  });
});
