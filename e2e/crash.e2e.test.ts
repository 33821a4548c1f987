import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { hasCommand, isAlive, missingRequirements, waitFor, type StartedProcess } from '@hearth/testkit';
import {
  convergence,
  leaksOn,
  startCluster,
  vmmPidsOf,
  warmVmmPidsOf,
  type Cluster,
  type ClusterAgent,
  type ClusterVm,
} from './support/cluster.js';

/**
 * Crash safety over real processes: at each step of create and delete (and of a snapshot, of a
 * clone restored from one, and of a VM restored in place), kill -9 the Manager, the Agent or the VMM (failpoints named in
 * HEARTH_FAILPOINTS make the process kill itself at an exact step), start what was killed again, and require that the VM reaches a correct state and
 * the host holds nothing the records do not account for.
 *
 * The recovery target is 5 s from the restart. It is a figure, not an assertion: the summary prints each kill
 * point's convergence and those over the target, while a test fails only when its VM has not converged by a
 * deadline far above it (a loaded or slow machine starts processes several times slower; a crash that is not
 * recovered from never converges).
 */
const skipReason = missingRequirements({ root: true, database: true, commands: ['ip', 'mkfs.ext4'] });
/** Recovery from each kill point is expected within this (reported in the summary). */
const recoveryTargetMs = 5_000;
/** A VM not in a correct state by then is not being recovered: the test fails. */
const recoveryDeadlineMs = 20_000;
/** The crash-loop guard's budget in this suite: the fourth death within the window is a crash loop. */
const crashLoopMaxRestarts = 3;

/** Whether `started` still runs and has no failpoint armed (its environment, read from /proc). */
function runsClean(started: StartedProcess): boolean {
  const { child } = started;
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return false;
  try {
    return !/(?:^|\0)HEARTH_FAILPOINTS=[^\0]/.test(readFileSync(`/proc/${child.pid}/environ`, 'latin1'));
  } catch {
    return false;
  }
}

interface Measurement {
  readonly killed: 'manager' | 'agent' | 'vmm';
  readonly point: string;
  readonly convergedMs: number;
}

describe.skipIf(skipReason)(`crash safety over real processes${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let cluster: Cluster;
  let agent: ClusterAgent;
  let hostId: string;
  let images: { kernelImageId: string; rootfsImageId: string };
  const measurements: Measurement[] = [];
  let vmCount = 0;

  beforeAll(async () => {
    cluster = await startCluster({
      agentCount: 1,
      managerEnv: { MANAGER_CRASH_LOOP_MAX_RESTARTS: String(crashLoopMaxRestarts) },
    });
    agent = cluster.agents[0]!;
    images = await cluster.images();
    const hosts = await cluster.api<{ items: Array<{ id: string }> }>('GET', '/v1/hosts');
    hostId = hosts.body.items[0]!.id;
  }, 60_000);

  // The Agent's and the Manager's processes when a case began.
  let pidsAtStart = { agent: 0, manager: 0 };
  beforeEach(() => {
    pidsAtStart = { agent: agent.process.child.pid ?? 0, manager: cluster.manager.child.pid ?? 0 };
  });

  // The next case starts from both running without a failpoint and the host heard from since. A case
  // that failed midway may leave either dead, or running with a failpoint armed; one that restarted
  // either leaves the host's first heartbeat from the new process still to come (a create then may
  // find no host to place it on).
  afterEach(async () => {
    let isRestarted = agent.process.child.pid !== pidsAtStart.agent || cluster.manager.child.pid !== pidsAtStart.manager;
    if (!runsClean(agent.process)) {
      await agent.kill();
      await agent.start();
      isRestarted = true;
    }
    if (!runsClean(cluster.manager)) {
      await cluster.killManager();
      await cluster.startManager();
      isRestarted = true;
    }
    if (isRestarted) await cluster.waitForHealthyHosts();
  }, 60_000);

  afterAll(async () => {
    if (measurements.length > 0) {
      const lines = measurements.map(
        (m) => `  ${m.killed.padEnd(7)} ${m.point.padEnd(34)} ${m.convergedMs.toFixed(0).padStart(5)} ms`,
      );
      const slowest = Math.max(...measurements.map((m) => m.convergedMs));
      const overTarget = measurements.filter((m) => m.convergedMs > recoveryTargetMs).length;
      console.log(
        `crash safety: ${measurements.length} kill points, 0 leaks, slowest convergence ${slowest.toFixed(0)} ms, ` +
          `${overTarget} over the ${recoveryTargetMs} ms target\n${lines.join('\n')}`,
      );
    }
    await cluster?.stop();
  });

  function nextName(prefix: string): string {
    vmCount += 1;
    return `${prefix}-${vmCount}`;
  }

  /** POST /v1/vms, tolerating a connection cut by a killed Manager. */
  async function postVm(
    name: string,
    extra: Record<string, unknown> = {},
  ): Promise<{ status: number; body: ClusterVm } | undefined> {
    try {
      return await cluster.api<ClusterVm>('POST', '/v1/vms', { name, vcpuCount: 1, memoryMib: 128, ...images, ...extra });
    } catch {
      return undefined;
    }
  }

  async function deleteVm(id: string): Promise<void> {
    try {
      await cluster.api('DELETE', `/v1/vms/${id}`);
    } catch {
      // the Manager died at its failpoint
    }
  }

  async function vmNamed(name: string): Promise<ClusterVm | undefined> {
    return (await cluster.vms()).find((vm) => vm.name === name);
  }

  /** Problems (empty when none): the VM named `name` is not in `states` (absent when `states` is empty), or the host leaks. */
  function expectation(name: string, states: readonly string[]): () => Promise<string[]> {
    return async () => {
      const vms = await cluster.vms();
      const vm = vms.find((each) => each.name === name);
      const problems = await leaksOn(agent, hostId, vms);
      if (states.length === 0 && vm !== undefined) problems.push(`VM ${name} still exists (${vm.state})`);
      if (states.length > 0 && vm === undefined) problems.push(`VM ${name} does not exist`);
      if (vm !== undefined && states.length > 0 && !states.includes(vm.state))
        problems.push(`VM ${name} is ${vm.state}, not ${states.join(' or ')}`);
      return problems;
    };
  }

  async function converge(killed: Measurement['killed'], point: string, check: () => Promise<string[]>): Promise<void> {
    const convergedMs = await convergence(check, recoveryDeadlineMs);
    measurements.push({ killed, point, convergedMs });
  }

  /** Waits until the Agent, started with `<point>=sleep:<ms>`, stands still at that failpoint. */
  async function agentStandsAt(point: string): Promise<void> {
    await waitFor(() => agent.process.output().includes(`failpoint ${point}`), {
      timeoutMs: 20_000,
      intervalMs: 10,
      description: `the Agent stands at ${point}`,
    });
  }

  /**
   * Removes a VM at the end of a scenario and checks that nothing of it is left. A DELETE refused
   * while the VM is busy (an operation of the reconciler's still finishing) is sent again, as a user
   * would; any other refusal fails the scenario with the answer.
   */
  async function cleanUp(name: string): Promise<void> {
    const vm = await vmNamed(name);
    if (vm !== undefined) {
      let last: { status: number; body: unknown } | undefined;
      await waitFor(
        async () => {
          last = await cluster.api('DELETE', `/v1/vms/${vm.id}`);
          if (last.status === 409) return undefined;
          return true;
        },
        { timeoutMs: recoveryDeadlineMs, intervalMs: 50, description: `the DELETE of ${name} accepted` },
      );
      expect([200, 202, 204, 404], `DELETE ${name}: ${JSON.stringify(last?.body)}`).toContain(last?.status);
    }
    await convergence(expectation(name, []), recoveryDeadlineMs);
  }

  describe('the Manager killed', () => {
    it.each([
      'manager.create.after-pending',
      'manager.create.after-scheduled',
      'manager.create.after-starting',
      'manager.apply.after-agent',
    ])(
      'at %s: the VM runs, nothing leaks',
      async (point) => {
        await cluster.killManager();
        await cluster.startManager({ HEARTH_FAILPOINTS: `${point}=kill` });
        await cluster.waitForHealthyHosts();
        const name = nextName('mc');
        await postVm(name);
        expect((await cluster.manager.exited).signal).toBe('SIGKILL');
        await cluster.startManager();
        await converge('manager', point, expectation(name, ['running']));
        await cleanUp(name);
      },
      60_000,
    );

    it.each(['manager.pause.after-pausing', 'manager.pause.after-agent'])(
      'at %s: the pause finishes, nothing leaks',
      async (point) => {
        const name = nextName('mp');
        await cluster.waitForHealthyHosts();
        expect((await postVm(name))?.status).toBe(201);
        const vm = (await vmNamed(name))!;
        await cluster.killManager();
        await cluster.startManager({ HEARTH_FAILPOINTS: `${point}=kill` });
        await cluster.waitForHealthyHosts();
        await cluster.api('POST', `/v1/vms/${vm.id}/pause`).catch(() => undefined); // the Manager died at its failpoint
        expect((await cluster.manager.exited).signal).toBe('SIGKILL');
        await cluster.startManager();
        await converge('manager', point, expectation(name, ['paused']));
        await cleanUp(name);
      },
      60_000,
    );

    it.each(['manager.delete.after-deleting', 'manager.delete.after-agent'])(
      'at %s: the delete finishes, nothing leaks',
      async (point) => {
        const name = nextName('md');
        // The Manager may have just been restarted by the test before: placement needs a heartbeat
        // it received (a host it has not heard from yet is refused as heartbeat_stale).
        await cluster.waitForHealthyHosts();
        expect((await postVm(name))?.status).toBe(201);
        const vm = (await vmNamed(name))!;
        await cluster.killManager();
        await cluster.startManager({ HEARTH_FAILPOINTS: `${point}=kill` });
        await cluster.waitForHealthyHosts();
        await deleteVm(vm.id);
        expect((await cluster.manager.exited).signal).toBe('SIGKILL');
        await cluster.startManager();
        await converge('manager', point, expectation(name, []));
      },
      60_000,
    );
  });

  describe('the Agent killed', () => {
    it.each([
      'agent.apply.tap-recorded',
      'agent.apply.tap-unmarked',
      'agent.apply.tap-created',
      'agent.apply.after-rootfs',
      'agent.apply.vmm-spawned',
      'agent.apply.after-spawn',
      'agent.apply.before-start',
      'agent.apply.after-running',
    ])(
      'at %s: the VM is failed with the reason and holds nothing',
      async (point) => {
        await agent.kill();
        await agent.start({ HEARTH_FAILPOINTS: `${point}=kill` });
        await cluster.waitForHealthyHosts();
        const name = nextName('ac');
        const created = await postVm(name);
        expect((await agent.process.exited).signal).toBe('SIGKILL');
        expect(created?.status).toBeGreaterThanOrEqual(500);
        await agent.start();
        await converge('agent', point, expectation(name, ['failed', 'running']));
        await cleanUp(name);
      },
      60_000,
    );

    it.skipIf(!hasCommand('nft')).each(['agent.egress.recorded', 'agent.egress.applied'])(
      'at %s with egress through NAT and a published port (skipped without nft): the VM is failed or running, no nft rule is left unrecorded',
      async (point) => {
        const egressEnv = { AGENT_EGRESS: 'nat', AGENT_UPLINK: 'lo' };
        await agent.netns.exec(['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
        await agent.kill();
        await agent.start({ ...egressEnv, HEARTH_FAILPOINTS: `${point}=kill` });
        await cluster.waitForHealthyHosts();
        const name = nextName('ae');
        // Its chain, its port and the guard of its TAP are written by one nft transaction: killed
        // after recording them, or after writing them, the ledger names every rule the table holds.
        await postVm(name, { ports: [{ hostPort: 18080, guestPort: 80, protocol: 'tcp' }] });
        expect((await agent.process.exited).signal).toBe('SIGKILL');
        await agent.start(egressEnv);
        await converge('agent', point, expectation(name, ['failed', 'running']));
        await cleanUp(name);
        await agent.kill();
        await agent.start();
      },
      60_000,
    );

    it.each(['agent.release.after-process', 'agent.release.after-tap', 'agent.delete.before-directory'])(
      'at %s during a delete: the delete is accepted (202) and finished once the Agent is back, nothing leaks',
      async (point) => {
        const name = nextName('ad');
        expect((await postVm(name))?.status).toBe(201);
        const vm = (await vmNamed(name))!;
        await agent.kill();
        await agent.start({ HEARTH_FAILPOINTS: `${point}=kill` });
        await cluster.waitForHealthyHosts();
        // The connection lost with the Agent leaves the outcome unknown: accepted, not failed.
        const answer = await cluster.api<ClusterVm>('DELETE', `/v1/vms/${vm.id}`);
        expect(answer.status).toBe(202);
        expect(answer.body.state).toBe('deleting');
        expect((await agent.process.exited).signal).toBe('SIGKILL');
        await agent.start();
        await converge('agent', point, expectation(name, []));
      },
      60_000,
    );
  });

  describe('the Agent slow', () => {
    /**
     * Longer than the Manager waits for an Agent's stop or delete (15 s), by a margin a slow machine's
     * late timers cannot eat; no longer, since the time to converge counts what is left of the stall.
     */
    const agentStallMs = 17_000;

    it('past the request timeout of a delete: 202 with the VM deleting, then the delete finishes, nothing leaks', async () => {
      const point = 'agent.delete.before-directory';
      const name = nextName('sd');
      await agent.kill();
      await agent.start({ HEARTH_FAILPOINTS: `${point}=sleep:${agentStallMs}` });
      await cluster.waitForHealthyHosts();
      expect((await postVm(name))?.status).toBe(201);
      const vm = (await vmNamed(name))!;
      const answer = await cluster.api<ClusterVm>('DELETE', `/v1/vms/${vm.id}`);
      expect(answer.status).toBe(202);
      expect(answer.body).toMatchObject({ id: vm.id, state: 'deleting', failureReason: null });
      expect(answer.headers.get('location')).toBe(`/v1/vms/${vm.id}`);
      // Neither failed nor gone while the Agent still stands at its failpoint.
      expect((await vmNamed(name))?.state).toBe('deleting');
      await converge('agent', `${point} (slow)`, expectation(name, []));
      await agent.kill();
      await agent.start();
    }, 90_000);
  });

  describe('the VMM killed', () => {
    it('while running: the VM is restarted (policy on-failure), nothing leaks', async () => {
      const name = nextName('vr');
      expect((await postVm(name))?.status).toBe(201);
      const vm = (await vmNamed(name))!;
      const [pid] = vmmPidsOf(agent, vm.id);
      process.kill(pid!, 'SIGKILL');
      await converge('vmm', 'running (restart on-failure)', async () => {
        const problems = await expectation(name, ['running'])();
        if (vmmPidsOf(agent, vm.id).includes(pid!)) problems.push(`the killed VMM ${pid} is still there`);
        if (vmmPidsOf(agent, vm.id).length !== 1) problems.push('the VM has no new VMM yet');
        return problems;
      });
      await cleanUp(name);
    }, 60_000);

    it('while running with restart policy never: the VM is failed with the reason, nothing leaks', async () => {
      const name = nextName('vn');
      expect((await postVm(name, { restartPolicy: 'never' }))?.status).toBe(201);
      const [pid] = vmmPidsOf(agent, (await vmNamed(name))!.id);
      process.kill(pid!, 'SIGKILL');
      await converge('vmm', 'running (restart never)', expectation(name, ['failed']));
      expect((await vmNamed(name))?.failureReason?.code).toBe('VMM_NOT_RUNNING');
      await cleanUp(name);
    }, 60_000);

    it('again and again (restart policy always): restarted with backoff, then failed with VM_CRASH_LOOP, nothing leaks', async () => {
      const name = nextName('vl');
      expect((await postVm(name, { restartPolicy: 'always' }))?.status).toBe(201);
      const vm = (await vmNamed(name))!;
      const killed: number[] = [];
      for (let death = 1; death <= crashLoopMaxRestarts + 1; death += 1) {
        // Each time, the VM runs again on a new VMM (the restart waits 0, 200, 400 ms with MANAGER_RETRY_BACKOFF_MS=200).
        const pid = await waitFor(
          async () => {
            const row = await vmNamed(name);
            const entry = (await agent.inventory()).vms.find((each) => each.vmId === vm.id);
            const isNew = entry?.pid !== null && entry?.pid !== undefined && !killed.includes(entry.pid);
            return row?.state === 'running' && entry?.vmmState === 'running' && isNew ? entry.pid : undefined;
          },
          { timeoutMs: recoveryDeadlineMs, description: `the VM runs again on a new VMM before death ${death}` },
        );
        process.kill(pid, 'SIGKILL');
        killed.push(pid);
      }
      await converge('vmm', `crash loop (${crashLoopMaxRestarts + 1} deaths)`, async () => {
        const problems = await expectation(name, ['failed'])();
        const code = (await vmNamed(name))?.failureReason?.code;
        if (code !== 'VM_CRASH_LOOP') problems.push(`failure reason is ${code ?? 'none'}, not VM_CRASH_LOOP`);
        return problems;
      });
      // Several resyncs later it is still failed and nothing runs for it: the restarts are over.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      expect((await vmNamed(name))?.state).toBe('failed');
      expect(vmmPidsOf(agent, vm.id)).toEqual([]);
      expect(await leaksOn(agent, hostId, await cluster.vms())).toEqual([]);
      const events = await cluster.api<{ items: Array<{ toState: string | null; message: string }> }>(
        'GET',
        `/v1/vms/${vm.id}/events?limit=500`,
      );
      const failures = events.body.items.filter((event) => event.toState === 'failed');
      expect(failures).toHaveLength(crashLoopMaxRestarts + 1);
      expect(failures.at(-1)?.message).toMatch(/VM_CRASH_LOOP/);
      await cleanUp(name);
    }, 60_000);

    it('during create, before InstanceStart: the VM is failed, nothing leaks', async () => {
      await agent.kill();
      await agent.start({ HEARTH_FAILPOINTS: 'agent.apply.before-start=sleep:3000' });
      await cluster.waitForHealthyHosts();
      const name = nextName('vc');
      // Restarted by no policy: the VMM's death fails the VM whichever way the Manager learns of
      // it (the create's answer, or a reconcile that found the Agent silent through its pause,
      // the VM unknown, and then its VMM gone: a death an `on-failure` policy would restart).
      const created = postVm(name, { restartPolicy: 'never' });
      // Killed while the Agent stands before InstanceStart: a VMM killed as soon as it appears may
      // die before the Agent has configured it, and a create may then rightly succeed.
      await agentStandsAt('agent.apply.before-start');
      const pids = vmmPidsOf(agent, (await vmNamed(name))!.id);
      expect(pids).toHaveLength(1);
      process.kill(pids[0]!, 'SIGKILL');
      expect((await created)?.status).toBeGreaterThanOrEqual(400);
      await agent.kill();
      await agent.start();
      await converge('vmm', 'create, before InstanceStart', expectation(name, ['failed']));
      await cleanUp(name);
    }, 60_000);

    it('just before a delete: the delete still removes everything', async () => {
      const name = nextName('vd');
      expect((await postVm(name))?.status).toBe(201);
      const vm = (await vmNamed(name))!;
      for (const pid of vmmPidsOf(agent, vm.id)) process.kill(pid, 'SIGKILL');
      await deleteVm(vm.id);
      await converge('vmm', 'delete', async () => {
        const problems = await expectation(name, [])();
        // A delete that lost a race with the restart leaves the VM failed: deleting again must finish it.
        const left = await vmNamed(name);
        if (left?.state === 'failed') await deleteVm(left.id);
        return problems;
      });
    }, 60_000);
  });
  describe('a snapshot interrupted', () => {
    /** Problems (empty when none): the VM's snapshot is not `state`, the host holds another set of snapshots than the ready ones, the VM does not run, or the host leaks. */
    function snapshotExpectation(name: string, state: 'ready' | 'failed'): () => Promise<string[]> {
      return async () => {
        const problems = await expectation(name, ['running'])();
        const vm = await vmNamed(name);
        if (vm === undefined) return problems;
        const rows = (await cluster.api<{ items: Array<{ id: string; state: string }> }>('GET', `/v1/snapshots?vmId=${vm.id}`))
          .body.items;
        if (rows.length !== 1 || rows[0]!.state !== state)
          problems.push(`snapshots of ${name}: ${rows.map((row) => row.state).join(', ') || 'none'}, not one ${state}`);
        const held = (await agent.inventory()).vms.find((each) => each.vmId === vm.id)?.snapshots ?? [];
        const ready = rows.filter((row) => row.state === 'ready').map((row) => row.id);
        if (held.map((each) => each.id).join() !== ready.join())
          problems.push(
            `the host holds snapshots [${held.map((each) => `${each.id} ${each.state}`).join(', ')}], not [${ready.join(', ')}]`,
          );
        return problems;
      };
    }

    async function postSnapshot(vmId: string): Promise<{ status: number; body: unknown } | undefined> {
      try {
        return await cluster.api('POST', `/v1/vms/${vmId}/snapshots`, {});
      } catch {
        return undefined; // the Manager died at its failpoint
      }
    }

    it.each([
      ['manager.snapshot.after-creating', 'failed'],
      ['manager.snapshot.after-agent', 'ready'],
    ] as const)(
      'the Manager killed at %s: the snapshot is settled %s, the VM runs, nothing leaks',
      async (point, state) => {
        const name = nextName('ms');
        await cluster.waitForHealthyHosts();
        expect((await postVm(name))?.status).toBe(201);
        const vm = (await vmNamed(name))!;
        await cluster.killManager();
        await cluster.startManager({ HEARTH_FAILPOINTS: `${point}=kill` });
        await cluster.waitForHealthyHosts();
        await postSnapshot(vm.id);
        expect((await cluster.manager.exited).signal).toBe('SIGKILL');
        await cluster.startManager();
        await converge('manager', point, snapshotExpectation(name, state));
        await cleanUp(name);
      },
      60_000,
    );

    it.each(['agent.snapshot.after-memory', 'agent.snapshot.after-ready'])(
      'the Agent killed at %s: the guest runs again, the snapshot is failed and nothing of it is kept',
      async (point) => {
        const name = nextName('as');
        await cluster.waitForHealthyHosts();
        expect((await postVm(name))?.status).toBe(201);
        const vm = (await vmNamed(name))!;
        await agent.kill();
        await agent.start({ HEARTH_FAILPOINTS: `${point}=kill` });
        await cluster.waitForHealthyHosts();
        // While its Agent was away the VM was unknown; the reconciler finds it running again.
        await waitFor(async () => (await vmNamed(name))?.state === 'running', {
          timeoutMs: recoveryDeadlineMs,
          description: `${name} is running again`,
        });
        const answer = await postSnapshot(vm.id);
        expect(answer?.status, JSON.stringify(answer?.body)).toBeGreaterThanOrEqual(500);
        expect((await agent.process.exited).signal).toBe('SIGKILL');
        await agent.start();
        await converge('agent', point, snapshotExpectation(name, 'failed'));
        await cleanUp(name);
      },
      60_000,
    );
    it('the VMM killed while its snapshot is taken, after the memory is written: the snapshot is failed and nothing of it is kept, the VM runs again, nothing leaks', async () => {
      const name = nextName('vs');
      const point = 'agent.snapshot.after-memory';
      await agent.kill();
      // The Agent stands still for 2 s once Firecracker has written the memory: the window to kill the VMM in.
      await agent.start({ HEARTH_FAILPOINTS: `${point}=sleep:2000` });
      await cluster.waitForHealthyHosts();
      expect((await postVm(name))?.status).toBe(201);
      const vm = (await vmNamed(name))!;
      const pids = vmmPidsOf(agent, vm.id);
      expect(pids).toHaveLength(1);
      const answer = postSnapshot(vm.id);
      await agentStandsAt(point);
      process.kill(pids[0]!, 'SIGKILL');
      // The guest cannot be resumed: the snapshot is refused, though its files were written.
      expect((await answer)?.status).toBeGreaterThanOrEqual(500);
      await agent.kill();
      await agent.start();
      await converge('vmm', point, snapshotExpectation(name, 'failed'));
      await cleanUp(name);
    }, 60_000);
  });

  describe('a clone interrupted', () => {
    /** A running VM and a ready snapshot of it, taken with no failpoint set. */
    async function snapshotted(
      name: string,
      extra: Record<string, unknown> = {},
    ): Promise<{ sourceName: string; snapshotId: string }> {
      const sourceName = `${name}-src`;
      await cluster.waitForHealthyHosts();
      expect((await postVm(sourceName, extra))?.status).toBe(201);
      const source = (await vmNamed(sourceName))!;
      // A host that missed heartbeats under load has its VMs unknown for a moment (409): asked again
      // until the snapshot is taken.
      let snapshotId: string | undefined;
      await waitFor(
        async () => {
          const taken = await cluster.api<{ id: string }>('POST', `/v1/vms/${source.id}/snapshots`, {});
          if (taken.status === 201) snapshotId = taken.body.id;
          return snapshotId !== undefined;
        },
        { timeoutMs: recoveryDeadlineMs, description: `a snapshot of ${sourceName} is taken` },
      );
      return { sourceName, snapshotId: snapshotId! };
    }

    /** POST /v1/vms?wait=false of one clone, tolerating a connection cut by a killed Manager. */
    async function postClone(name: string, snapshotId: string): Promise<void> {
      try {
        await cluster.api('POST', '/v1/vms?wait=false', { name, snapshotId });
      } catch {
        // the Manager died at its failpoint
      }
    }

    async function cleanUpClone(name: string, sourceName: string, snapshotId: string): Promise<void> {
      await cleanUp(name);
      expect((await cluster.api('DELETE', `/v1/snapshots/${snapshotId}`)).status).toBe(204);
      await cleanUp(sourceName);
    }

    it('the Manager killed at manager.clone.after-pending: the clone runs, nothing leaks', async () => {
      const point = 'manager.clone.after-pending';
      const name = nextName('mk');
      const { sourceName, snapshotId } = await snapshotted(name);
      await cluster.killManager();
      await cluster.startManager({ HEARTH_FAILPOINTS: `${point}=kill` });
      await cluster.waitForHealthyHosts();
      await postClone(name, snapshotId);
      expect((await cluster.manager.exited).signal).toBe('SIGKILL');
      await cluster.startManager();
      await converge('manager', point, expectation(name, ['running']));
      await cleanUpClone(name, sourceName, snapshotId);
    }, 60_000);

    it('the Agent killed at agent.restore.after-load: the restored guest runs, nothing leaks', async () => {
      const point = 'agent.restore.after-load';
      const name = nextName('ak');
      const { sourceName, snapshotId } = await snapshotted(name);
      await agent.kill();
      await agent.start({ HEARTH_FAILPOINTS: `${point}=kill` });
      await cluster.waitForHealthyHosts();
      await postClone(name, snapshotId);
      expect((await agent.process.exited).signal).toBe('SIGKILL');
      await agent.start();
      await converge('agent', point, expectation(name, ['running']));
      await cleanUpClone(name, sourceName, snapshotId);
    }, 60_000);

    it.each([
      // Its directory moved to be the clone's, before the clone's record names it.
      'agent.apply.warm-vmm-taken',
      'agent.restore.after-load',
    ])(
      'the Agent killed at %s of a clone into a warm VMM: the clone runs, the warm VMMs of the dead Agent are gone, nothing leaks',
      async (point) => {
        const name = nextName('wk');
        const { sourceName, snapshotId } = await snapshotted(name);
        await agent.kill();
        await agent.start({ HEARTH_FAILPOINTS: `${point}=kill`, AGENT_VMM_POOL_SIZE: '2' });
        await waitFor(() => warmVmmPidsOf(agent).length === 2, { timeoutMs: 20_000, description: 'two warm VMMs' });
        const warm = warmVmmPidsOf(agent);
        await cluster.waitForHealthyHosts();
        await postClone(name, snapshotId);
        expect((await agent.process.exited).signal).toBe('SIGKILL');
        await agent.start();
        await converge('agent', point, async () => {
          const problems = await expectation(name, ['running'])();
          // The next Agent keeps none: those of the dead one are stopped, unless a clone's record names it.
          const clone = await vmNamed(name);
          const clonePids = clone === undefined ? [] : vmmPidsOf(agent, clone.id);
          for (const pid of warm) {
            if (isAlive(pid) && !clonePids.includes(pid)) problems.push(`warm VMM ${pid} still runs`);
          }
          if (warmVmmPidsOf(agent).length > 0) problems.push('warm VMMs left in the pool');
          return problems;
        });
        await cleanUpClone(name, sourceName, snapshotId);
      },
      60_000,
    );

    it('the VMM killed at agent.restore.after-load (loaded, not resumed): the clone is restarted and runs, the snapshot still clones, nothing leaks', async () => {
      const point = 'agent.restore.after-load';
      const name = nextName('vk');
      const { sourceName, snapshotId } = await snapshotted(name);
      await agent.kill();
      // The Agent stands still for 2 s once the VMM has loaded the snapshot: the window to kill it in.
      await agent.start({ HEARTH_FAILPOINTS: `${point}=sleep:2000` });
      await cluster.waitForHealthyHosts();
      const before = new Set(vmmPidsOf(agent));
      await postClone(name, snapshotId);
      await agentStandsAt(point);
      const loaded = vmmPidsOf(agent).filter((pid) => !before.has(pid));
      expect(loaded).toHaveLength(1);
      process.kill(loaded[0]!, 'SIGKILL');
      await agent.kill();
      await agent.start();
      // Its restart policy (on-failure) starts it again.
      await converge('vmm', point, expectation(name, ['running']));
      // The snapshot was only read: another clone of it runs.
      const again = `${name}-2`;
      await postClone(again, snapshotId);
      await convergence(expectation(again, ['running']), recoveryDeadlineMs);
      await cleanUp(again);
      await cleanUpClone(name, sourceName, snapshotId);
    }, 60_000);

    /** Problems (empty when none): the VM is not running restored (its restore still pending), or the host leaks. */
    function restored(name: string): () => Promise<string[]> {
      const running = expectation(name, ['running']);
      return async () => {
        const problems = await running();
        const vm = (await vmNamed(name)) as (ClusterVm & { pendingRestore: unknown; failureReason: unknown }) | undefined;
        if (vm !== undefined && vm.pendingRestore !== null) problems.push(`VM ${name} still has a restore pending`);
        if (vm?.state === 'failed') problems.push(`VM ${name} failed: ${JSON.stringify(vm.failureReason)}`);
        return problems;
      };
    }

    /**
     * POST /v1/vms/{id}/restore?wait=false, tolerating a connection cut by a killed Manager. A VM
     * whose restarted Agent was not heard from yet is unknown for a moment (409): asked again until
     * the restore is accepted.
     */
    async function postRestore(vmId: string, snapshotId: string): Promise<void> {
      await waitFor(
        async () => {
          try {
            return (await cluster.api('POST', `/v1/vms/${vmId}/restore?wait=false`, { snapshotId })).status === 202;
          } catch {
            return true; // the Manager died at its failpoint
          }
        },
        { timeoutMs: recoveryDeadlineMs, description: `a restore of ${vmId} is accepted` },
      );
    }

    it.each([
      ['manager', 'manager.restore.after-stop'],
      // In the stop that keeps the VM's network: its VMM killed, its TAP and guard kept.
      ['agent', 'agent.release.after-process'],
      // Its new VMM spawned (before, and once, its process is recorded) with its log and metrics, not loaded.
      ['agent', 'agent.apply.vmm-spawned'],
      ['agent', 'agent.apply.after-spawn'],
      ['agent', 'agent.restore.after-load'],
    ] as const)(
      'the %s killed at %s of a restore in place: the VM runs restored, nothing leaks',
      async (killed, point) => {
        const { sourceName: name, snapshotId } = await snapshotted(nextName('rp'));
        const vm = (await vmNamed(name))!;
        if (killed === 'manager') {
          await cluster.killManager();
          await cluster.startManager({ HEARTH_FAILPOINTS: `${point}=kill` });
        } else {
          await agent.kill();
          await agent.start({ HEARTH_FAILPOINTS: `${point}=kill` });
        }
        await cluster.waitForHealthyHosts();
        await postRestore(vm.id, snapshotId);
        if (killed === 'manager') {
          expect((await cluster.manager.exited).signal).toBe('SIGKILL');
          await cluster.startManager();
        } else {
          expect((await agent.process.exited).signal).toBe('SIGKILL');
          await agent.start();
        }
        await converge(killed, point, restored(name));
        // The restored VMM maps the snapshot's memory file: the snapshot goes with the VM.
        expect((await cluster.api('DELETE', `/v1/snapshots/${snapshotId}`)).status).toBe(409);
        await cleanUp(name);
      },
      60_000,
    );

    it.each([
      // Taken, before the VM's directory is replaced by its directory.
      'agent.apply.warm-vmm-taken',
      // The VM's directory set aside, the warm VMM's not yet under its name.
      'agent.record.vm-directory-set-aside',
      'agent.restore.after-load',
    ])(
      'the Agent killed at %s of a restore in place into a warm VMM: the VM runs restored, no warm VMM of the dead Agent is left, nothing leaks',
      async (point) => {
        const { sourceName: name, snapshotId } = await snapshotted(nextName('wp'));
        const vm = (await vmNamed(name))!;
        await agent.kill();
        await agent.start({ HEARTH_FAILPOINTS: `${point}=kill`, AGENT_VMM_POOL_SIZE: '1' });
        await waitFor(() => warmVmmPidsOf(agent).length === 1, { timeoutMs: 20_000, description: 'a warm VMM' });
        const [warm] = warmVmmPidsOf(agent);
        await cluster.waitForHealthyHosts();
        await postRestore(vm.id, snapshotId);
        expect((await agent.process.exited).signal).toBe('SIGKILL');
        await agent.start();
        await converge('agent', point, async () => {
          const problems = await restored(name)();
          if (warm !== undefined && isAlive(warm) && !vmmPidsOf(agent, vm.id).includes(warm)) {
            problems.push(`warm VMM ${warm} still runs`);
          }
          if (warmVmmPidsOf(agent).length > 0) problems.push('warm VMMs left in the pool');
          return problems;
        });
        expect((await cluster.api('DELETE', `/v1/snapshots/${snapshotId}`)).status).toBe(409);
        await cleanUp(name);
      },
      60_000,
    );

    it('the VMM killed between the stop that kept its network and the load: the VM fails with the reason and holds nothing, and its next start restores', async () => {
      const point = 'agent.apply.vmm-spawned';
      // Restarted by no policy: the VMM's death fails the VM whichever way the Manager learns of
      // it (the restore's answer, or a reconcile that found the Agent silent through its pause,
      // the VM unknown, and then its VMM gone: a death an `on-failure` policy would restart).
      const { sourceName: name, snapshotId } = await snapshotted(nextName('rv'), { restartPolicy: 'never' });
      const vm = (await vmNamed(name))!;
      await agent.kill();
      // The Agent stands still for 2 s once the restore's new VMM is spawned: the window to kill it in.
      await agent.start({ HEARTH_FAILPOINTS: `${point}=sleep:2000` });
      await cluster.waitForHealthyHosts();
      const before = new Set(vmmPidsOf(agent, vm.id));
      await postRestore(vm.id, snapshotId);
      // This VM's new VMM, with the Agent standing at the failpoint: the failpoint follows the spawn
      // without a turn of the Agent's event loop. Another VM's spawn that stood there first is not it.
      let spawned: number[] = [];
      await waitFor(
        () => {
          spawned = vmmPidsOf(agent, vm.id).filter((pid) => !before.has(pid));
          return spawned.length > 0 && agent.process.output().includes(`failpoint ${point}`);
        },
        {
          timeoutMs: 20_000,
          intervalMs: 10,
          description: () =>
            `the restore's VMM of ${vm.id} spawned, the Agent at ${point}; the Agent said:\n${agent.process.output()}`,
        },
      );
      expect(spawned).toHaveLength(1);
      process.kill(spawned[0]!, 'SIGKILL');
      // Never taken for the old guest: failed, its TAP and guard released with the rest.
      const failed = expectation(name, ['failed']);
      await converge('vmm', point, async () => {
        const problems = await failed();
        const current = (await vmNamed(name)) as (ClusterVm & { pendingRestore: unknown }) | undefined;
        if (current?.pendingRestore === null) problems.push(`VM ${name} lost its pending restore`);
        return problems;
      });
      await agent.kill();
      await agent.start();
      await cluster.waitForHealthyHosts();
      // A VM whose restarted Agent was not heard from yet is unknown for a moment (409): asked
      // again. One its restart policy already took on is restored without it.
      await waitFor(
        async () => {
          const current = await vmNamed(name);
          if (current?.state === 'starting' || current?.state === 'running') return true;
          return (await cluster.api('POST', `/v1/vms/${vm.id}/start`)).status === 200;
        },
        { timeoutMs: recoveryDeadlineMs, description: `a start of ${vm.id} is accepted` },
      );
      await convergence(restored(name), recoveryDeadlineMs);
      await cleanUp(name);
    }, 60_000);
  });
});
