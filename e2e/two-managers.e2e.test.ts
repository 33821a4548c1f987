import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missingRequirements, waitFor } from '@hearth/testkit';
import {
  convergence,
  leaksOn,
  startCluster,
  vmmPidsOf,
  type Cluster,
  type ClusterAgent,
  type ClusterReplica,
  type ClusterVm,
} from './support/cluster.js';
import { openSse } from '@hearth/testkit';

/**
 * Two Manager processes on one PostgreSQL database and one Agent: exactly one leads the reconciler
 * (GET /v1/system), either answers for every VM, events reach the SSE clients of both, and when the
 * leader is killed (-9) the other takes over reconciliation within a few seconds. The Agent reports
 * to the second replica, so its host stays healthy when the first (the leader at start) dies.
 */
const skipReason = missingRequirements({ root: true, database: true, commands: ['ip', 'mkfs.ext4'] });
/** The lock goes with the killed leader's session (its socket closes at once), and the follower, queued for it, takes it then. */
const takeoverBudgetMs = 5_000;
const heartbeatMs = 1_000;

type Role = 'leader' | 'follower' | 'disabled';

describe.skipIf(skipReason)(`two Managers on one database${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let cluster: Cluster;
  let agent: ClusterAgent;
  let hostId: string;
  let a: ClusterReplica;
  let b: ClusterReplica;
  let images: { kernelImageId: string; rootfsImageId: string };

  beforeAll(async () => {
    // The Agent reports to B first, and to A when B cannot answer. Heartbeats a second apart: a
    // tolerance of 3 s leaves a loaded machine's late timers 2 s beside the turn to the other replica.
    cluster = await startCluster({
      agentCount: 1,
      extraManagers: 1,
      agentsReportTo: [1, 0],
      managerEnv: { MANAGER_HEARTBEAT_MS: String(heartbeatMs) },
    });
    [a, b] = cluster.replicas as [ClusterReplica, ClusterReplica];
    agent = cluster.agents[0]!;
    images = await cluster.images();
    hostId = (await b.api<{ items: Array<{ id: string }> }>('GET', '/v1/hosts')).body.items[0]!.id;
  }, 90_000);

  afterAll(async () => {
    await cluster?.stop();
  });

  async function roleOf(replica: ClusterReplica): Promise<Role> {
    return (await replica.api<{ reconciler: Role }>('GET', '/v1/system')).body.reconciler;
  }

  async function createVm(through: ClusterReplica, name: string, extra: Record<string, unknown> = {}): Promise<ClusterVm> {
    const created = await through.api<ClusterVm>('POST', '/v1/vms', { name, vcpuCount: 1, memoryMib: 128, ...images, ...extra });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    return created.body;
  }

  async function vmsThrough(replica: ClusterReplica): Promise<ClusterVm[]> {
    return (await replica.api<{ items: ClusterVm[] }>('GET', '/v1/vms?limit=500')).body.items;
  }

  it('has exactly one reconciler leader, and keeps it while both run', async () => {
    for (let i = 0; i < 8; i += 1) {
      expect([await roleOf(a), await roleOf(b)]).toEqual(['leader', 'follower']);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  });

  it('shows a VM created through one replica through the other, which can delete it', async () => {
    const vm = await createVm(a, 'made-on-a');
    const seen = await b.api<ClusterVm>('GET', `/v1/vms/${vm.id}`);
    expect(seen.status).toBe(200);
    expect(seen.body).toMatchObject({ id: vm.id, name: 'made-on-a', state: 'running' });
    expect((await b.api('DELETE', `/v1/vms/${vm.id}`)).status).toBeLessThan(300);
    expect((await a.api('GET', `/v1/vms/${vm.id}`)).status).toBe(404);
    expect(await leaksOn(agent, hostId, await vmsThrough(a))).toEqual([]);
  }, 30_000);

  it('streams the state changes of a VM created through one replica to an SSE client of the other', async () => {
    const stream = await openSse(`${b.url}/v1/events/stream?type=vm.state_changed`, {
      authorization: `Bearer ${cluster.adminToken}`,
    });
    try {
      expect(stream.status).toBe(200);
      const vm = await createVm(a, 'streamed');
      const states: string[] = [];
      while (!states.includes('running')) {
        const message = await stream.next((m) => m.data !== undefined && (JSON.parse(m.data) as { vmId: string }).vmId === vm.id);
        states.push((JSON.parse(message.data!) as { toState: string }).toState);
      }
      expect(states).toEqual(['scheduled', 'starting', 'running']);
      await b.api('DELETE', `/v1/vms/${vm.id}`);
    } finally {
      stream.close();
    }
  }, 30_000);

  it('lets the follower take over reconciliation within a few seconds of the leader being killed -9', async () => {
    const vm = await createVm(b, 'survivor');
    await a.kill();
    const tookOverMs = await convergence(
      async () => ((await roleOf(b)) === 'leader' ? [] : ['replica B does not lead yet']),
      takeoverBudgetMs,
    );

    // Proof that B reconciles now, not just claims to: a VMM killed afterwards is restarted.
    const [pid] = vmmPidsOf(agent);
    expect(pid).toBeDefined();
    process.kill(pid!, 'SIGKILL');
    const restartedMs = await convergence(async () => {
      const problems = await leaksOn(agent, hostId, await vmsThrough(b));
      const row = (await vmsThrough(b)).find((each) => each.id === vm.id);
      if (row?.state !== 'running') problems.push(`VM is ${row?.state ?? 'gone'}`);
      const pids = vmmPidsOf(agent);
      if (pids.includes(pid!) || pids.length !== 1) problems.push(`VMM processes: ${pids.join(', ') || 'none'}`);
      return problems;
    }, takeoverBudgetMs);
    const events = await b.api<{ items: Array<{ toState: string | null; message: string }> }>('GET', `/v1/vms/${vm.id}/events`);
    expect(events.body.items.some((e) => e.toState === 'failed' && /restarting/.test(e.message))).toBe(true);
    console.log(
      `two managers: B led ${tookOverMs.toFixed(0)} ms after A was killed; the killed VMM ran again after ${restartedMs.toFixed(0)} ms`,
    );

    // A comes back as a follower: the lock stays with B.
    await a.start();
    await waitFor(async () => (await roleOf(a)) === 'follower', { timeoutMs: 5_000, description: 'replica A follows' });
    expect(await roleOf(b)).toBe('leader');
    await b.api('DELETE', `/v1/vms/${vm.id}`);
    await convergence(async () => leaksOn(agent, hostId, await vmsThrough(b)), takeoverBudgetMs);
  }, 60_000);

  it('keeps the host healthy when the replica its Agent reports to dies: the Agent turns to the other', async () => {
    // B leads after the previous test and is the Agent's first replica.
    const vm = await createVm(b, 'stays-up');
    const hostStatus = async (): Promise<string | undefined> =>
      (await a.api<{ items: Array<{ id: string; status: string }> }>('GET', '/v1/hosts')).body.items.find((h) => h.id === hostId)
        ?.status;
    await b.kill();
    // Well past the heartbeat tolerance (3 intervals): a host whose heartbeats stopped would be
    // unhealthy by then, and its VMs unknown.
    const seen = new Set<string>();
    const until = performance.now() + 5 * heartbeatMs;
    while (performance.now() < until) {
      seen.add((await hostStatus()) ?? 'missing');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect([...seen]).toEqual(['healthy']);
    await waitFor(async () => (await roleOf(a)) === 'leader', { timeoutMs: 5_000, description: 'replica A leads' });
    expect((await vmsThrough(a)).find((each) => each.id === vm.id)?.state).toBe('running');

    await b.start();
    await a.api('DELETE', `/v1/vms/${vm.id}`);
    await convergence(async () => leaksOn(agent, hostId, await vmsThrough(a)), takeoverBudgetMs);
  }, 60_000);
});
