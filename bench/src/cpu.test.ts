import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  agentChildrenMsBetween,
  childCommandOf,
  controlPlaneMs,
  cpuMsBetween,
  isDescendantOf,
  marginalControlPlaneMs,
  msPerItem,
  msPerSecond,
  threadTimes,
  vmmCount,
  type CpuGroup,
  type CpuSnapshot,
} from './cpu.js';

const snapshot = (
  machineTicks: number,
  processes: [number, CpuGroup, number][],
  reapedTicks = { manager: 0, agent: 0 },
): CpuSnapshot => ({
  machineTicks,
  processes: new Map(processes.map(([pid, group, ticks]) => [pid, { group, ticks }])),
  reapedTicks,
});

describe('cpuMsBetween', () => {
  it("counts the Agent's ended children through its reaped time, not as other", () => {
    const before = snapshot(1_000, [
      [10, 'agent', 50],
      [20, 'manager', 40],
    ]);
    const after = snapshot(
      1_030,
      [
        [10, 'agent', 55],
        [20, 'manager', 42],
      ],
      { manager: 0, agent: 3 },
    );
    const ms = cpuMsBetween(before, after);
    expect(ms).toMatchObject({ agent: 50, manager: 20, 'agent-children': 30, other: 200 });
    expect(controlPlaneMs(ms)).toBe(100);
  });

  it('counts a live child of the Agent (a long-lived helper) by its own counters', () => {
    const before = snapshot(0, [[30, 'agent-children', 7]]);
    const after = snapshot(10, [[30, 'agent-children', 9]]);
    expect(cpuMsBetween(before, after)['agent-children']).toBe(20);
  });

  it('leaves the VMMs out of the control plane', () => {
    const ms = cpuMsBetween(snapshot(0, []), snapshot(50, [[40, 'vmms', 50]]));
    expect(ms.vmms).toBe(500);
    expect(controlPlaneMs(ms)).toBe(0);
    expect(vmmCount(snapshot(0, [[40, 'vmms', 1]]))).toBe(1);
  });
});

describe('agentChildrenMsBetween', () => {
  const child = (pid: number, ticks: number, command: string): [number, { group: CpuGroup; ticks: number; command: string }] => [
    pid,
    { group: 'agent-children', ticks, command },
  ];
  const at = (processes: ReturnType<typeof child>[], agentReaped: number): CpuSnapshot => ({
    machineTicks: 0,
    processes: new Map<number, { group: CpuGroup; ticks: number; command?: string }>([
      [10, { group: 'agent', ticks: 100 }],
      ...processes,
    ]),
    reapedTicks: { manager: 0, agent: agentReaped },
  });

  it("splits the Agent's children by what each is, and counts those that ended as one", () => {
    const before = at([child(30, 5, 'nft -j'), child(31, 2, 'ip')], 4);
    const after = at([child(30, 9, 'nft -j'), child(31, 3, 'ip'), child(32, 1, 'ip -j'), child(33, 2, 'ip')], 6);
    const parts = agentChildrenMsBetween(before, after);
    expect(parts).toEqual({ 'nft -j': 40, ip: 30, 'ip -j': 10, ended: 20 });
    // The parts add up to the group's total.
    const total = Object.values(parts).reduce((sum, value) => sum + value, 0);
    expect(total).toBe(cpuMsBetween(before, after)['agent-children']);
  });

  it('names a child by its program and whether it answers JSON', () => {
    expect(childCommandOf('ip\0-n\0hearth-1\0-force\0-batch\0-\0')).toBe('ip');
    expect(childCommandOf('/usr/sbin/ip\0-n\0hearth-1\0-j\0-force\0-batch\0-\0')).toBe('ip -j');
    expect(childCommandOf('/usr/sbin/nft\0-j\0-i\0')).toBe('nft -j');
    expect(childCommandOf('')).toBe('?');
  });
});

describe('isDescendantOf', () => {
  const stats = new Map([
    [100, { ppid: 1 }],
    [200, { ppid: 100 }],
    [300, { ppid: 200 }],
    [400, { ppid: 1 }],
  ]);

  it("finds a VMM under the Agent, directly or through a wrapper, and not another tenant's", () => {
    expect(isDescendantOf(200, stats, [100])).toBe(true);
    expect(isDescendantOf(300, stats, [100])).toBe(true);
    expect(isDescendantOf(400, stats, [100])).toBe(false);
    expect(isDescendantOf(300, stats, [undefined, 999])).toBe(false);
  });
});

describe('marginalControlPlaneMs', () => {
  const groups = (values: Partial<Record<CpuGroup, number>>): Record<CpuGroup, number> => ({
    manager: 0,
    agent: 0,
    'agent-children': 0,
    postgres: 0,
    vmms: 0,
    bench: 0,
    other: 0,
    ...values,
  });

  it('takes the background rate over the wave out of the control plane, per VM created', () => {
    const wave = groups({ manager: 600, agent: 900, postgres: 100, vmms: 5000 });
    const background = msPerSecond(groups({ manager: 300, agent: 200, vmms: 50 }), 10);
    // 1,600 ms in 10 s, of which 50 ms/s is background: (1,600 - 500) / 20.
    expect(marginalControlPlaneMs(wave, background, 10, 20)).toBe(55);
  });

  it('never answers below zero, nor divides by no VM', () => {
    expect(marginalControlPlaneMs(groups({ agent: 10 }), groups({ agent: 100 }), 1, 5)).toBe(0);
    expect(marginalControlPlaneMs(groups({ agent: 10 }), groups({}), 1, 0)).toBe(0);
  });
});

describe('msPerItem', () => {
  it('divides every group by the count', () => {
    const ms = msPerItem({ manager: 30, agent: 90, 'agent-children': 15, postgres: 6, vmms: 300, bench: 3, other: 0 }, 3);
    expect(ms).toEqual({ manager: 10, agent: 30, 'agent-children': 5, postgres: 2, vmms: 100, bench: 1, other: 0 });
  });
});

describe('threadTimes', () => {
  it.skipIf(!existsSync('/proc/self/schedstat'))("reads the main thread's time on a core, which grows as it works", () => {
    const before = threadTimes('self');
    expect(before).not.toBeNull();
    const startedAt = process.cpuUsage();
    // Work on this thread until its run time has grown by 20 ms, or 5 s have passed (it did not grow).
    // The process's own CPU is no measure of it: V8's threads work beside it, compiling this loop.
    const deadline = performance.now() + 5_000;
    let after = threadTimes('self');
    while (after !== null && after.runMs - before!.runMs < 20 && performance.now() < deadline) {
      for (let i = 0; i < 100_000; i++) Math.sqrt(Math.random());
      after = threadTimes('self');
    }
    const ranMs = after!.runMs - before!.runMs;
    expect(ranMs).toBeGreaterThanOrEqual(20);
    // What the thread ran, the process used (getrusage, coarser: half of it at least).
    const used = process.cpuUsage(startedAt);
    expect((used.user + used.system) / 1000).toBeGreaterThanOrEqual(ranMs / 2);
    expect(after!.waitMs).toBeGreaterThanOrEqual(before!.waitMs);
  });

  it('is null for a process that is not there, or none', () => {
    expect(threadTimes(2 ** 30)).toBeNull();
    expect(threadTimes(undefined)).toBeNull();
  });
});
