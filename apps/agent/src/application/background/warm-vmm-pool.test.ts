import { describe, expect, it } from 'vitest';
import { createFakeAgent, createFakeWarmVmmPool } from '../../adapters/fake/fake-agent-context.js';
import { otherVmId, testVmId } from '../../adapters/fake/fake-fixtures.js';
import { pathsIn, vmmPoolDirectory } from '../../domain/vm-paths.js';

const slot1 = pathsIn(`${vmmPoolDirectory('/srv/fc')}/slot1`);

describe('WarmVmmPool', () => {
  it('keeps its size of VMMs started, unconfigured, at a low priority, each answering in a directory of its own', async () => {
    const agent = createFakeAgent();
    const { pool } = createFakeWarmVmmPool(agent);
    pool.fill();
    await pool.settled();

    expect(pool.idleCount).toBe(2);
    const warm = agent.vmm.liveProcessOn(slot1.socket);
    expect(warm).toMatchObject({ state: 'Not started', niceness: 19, workingDirectory: `${vmmPoolDirectory('/srv/fc')}/slot1` });
    // Its log is where a VM's is, so it is the VM's once the directory is; its serial input is a FIFO there.
    expect(agent.files.files.has(slot1.firecrackerLog)).toBe(true);
    expect(agent.files.files.get(slot1.consoleFifo)?.kind).toBe('fifo');
    expect(warm?.hasMetrics).toBe(false);
    expect(agent.vmm.liveProcesses).toHaveLength(2);
  });

  it('hands over an idle VMM at the priority of any VMM, and starts others once the takes pause', async () => {
    const agent = createFakeAgent();
    const { pool, timers } = createFakeWarmVmmPool(agent);
    pool.fill();
    await pool.settled();

    const taken = await pool.take(otherVmId);

    const process = agent.vmm.liveProcessOn(slot1.socket);
    expect(taken).toEqual({
      process: expect.objectContaining({ pid: process?.pid }),
      directory: `${vmmPoolDirectory('/srv/fc')}/slot1`,
    });
    expect(process).toMatchObject({ niceness: 0, state: 'Not started' });
    // Not while takes may follow: once none has for the refill delay.
    await pool.settled();
    expect(pool.idleCount).toBe(1);
    expect(timers.pendingDelaysMs).toEqual([2_000]);
    await pool.take(testVmId);
    expect(timers.pendingDelaysMs).toEqual([2_000]);
    timers.runNext();
    await pool.settled();
    expect(pool.idleCount).toBe(2);
    expect(agent.vmm.liveProcesses).toHaveLength(4);
    // The new ones wait at a low priority in directories of their own.
    expect(agent.vmm.liveProcessOn(pathsIn(`${vmmPoolDirectory('/srv/fc')}/slot3`).socket)?.niceness).toBe(19);
  });

  it('stops a VMM handed over and not used, and removes its directory', async () => {
    const agent = createFakeAgent();
    const { pool } = createFakeWarmVmmPool(agent, { size: 1 });
    pool.fill();
    await pool.settled();
    const taken = await pool.take(otherVmId);
    if (taken === undefined) throw new Error('no warm VMM');

    await pool.discard(taken);

    expect(await agent.vmm.isAlive(taken.process)).toBe(false);
    expect(agent.files.pathsUnder(taken.directory)).toEqual([]);
  });

  it('hands out nothing when none is idle, and never a VMM that ended while it waited', async () => {
    const agent = createFakeAgent();
    const { pool, timers } = createFakeWarmVmmPool(agent, { size: 1 });
    expect(await pool.take(otherVmId)).toBeUndefined();
    timers.runNext();
    await pool.settled();
    const warm = agent.vmm.liveProcessOn(slot1.socket)!;
    agent.vmm.exitProcess(warm.pid, { code: 1, signal: null });

    expect(await pool.take(otherVmId)).toBeUndefined();
    expect(agent.files.pathsUnder(`${vmmPoolDirectory('/srv/fc')}/slot1`)).toEqual([]);
    expect(agent.log.entries.some((entry) => entry.message === 'warm vmm ended while idle')).toBe(true);
  });

  it('leaves the niceness alone when it may not raise it again', async () => {
    const agent = createFakeAgent();
    const { pool } = createFakeWarmVmmPool(agent, { niceness: null, size: 1 });
    pool.fill();
    await pool.settled();
    expect(agent.vmm.liveProcessOn(slot1.socket)?.niceness).toBe(0);
    expect((await pool.take(testVmId))?.process.pid).toBe(agent.vmm.liveProcessOn(slot1.socket)?.pid);
  });

  it('removes what a VMM that could not start left, and tries again later, waiting longer after each failure', async () => {
    const agent = createFakeAgent();
    const { pool, timers } = createFakeWarmVmmPool(agent, { size: 1 });
    agent.vmm.nextSpawnCrashOutput = 'Failed to open the API socket\n';
    pool.fill();
    await pool.settled();

    expect(pool.idleCount).toBe(0);
    expect(agent.files.pathsUnder(`${vmmPoolDirectory('/srv/fc')}/slot1`)).toEqual([]);
    expect(timers.pendingDelaysMs).toEqual([1_000]);
    // A fill asked for meanwhile waits for the retry.
    pool.fill();
    expect(agent.vmm.processes.size).toBe(1);

    agent.vmm.nextSpawnCrashOutput = 'again\n';
    timers.runNext();
    await pool.settled();
    expect(timers.pendingDelaysMs).toEqual([2_000]);
    timers.runNext();
    await pool.settled();
    expect(pool.idleCount).toBe(1);
    expect(agent.vmm.liveProcesses).toHaveLength(1);
  });

  it('stops its idle VMMs and removes their directories when closed, and starts none after', async () => {
    const agent = createFakeAgent();
    const { pool } = createFakeWarmVmmPool(agent);
    pool.fill();
    const taken = await pool.take(otherVmId);
    await pool.close();

    expect(taken).toBeUndefined();
    expect(agent.vmm.liveProcesses).toEqual([]);
    expect(agent.files.pathsUnder(vmmPoolDirectory('/srv/fc'))).toEqual([]);
    pool.fill();
    await pool.settled();
    expect(agent.vmm.liveProcesses).toEqual([]);
  });

  it('never stops a VMM it handed over', async () => {
    const agent = createFakeAgent();
    const { pool } = createFakeWarmVmmPool(agent, { size: 1 });
    pool.fill();
    await pool.settled();
    const taken = await pool.take(otherVmId);
    await pool.close();

    expect(agent.vmm.liveProcesses.map((process) => process.pid)).toEqual([taken?.process.pid]);
  });
});
