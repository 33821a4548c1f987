import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missingRequirements, waitFor } from '@hearth/testkit';
import { convergence, leaksOn, startCluster, vmmPidsOf, type Cluster, type ClusterVm } from './support/cluster.js';
import { startThrowawayPostgres, throwawayPostgresProblem, type ThrowawayPostgres } from './support/throwaway-postgres.js';

/**
 * PostgreSQL restarted in the middle of a run: the Manager is not restarted, recovers on its own
 * (its pool reconnects, its LISTEN connection and its reconciler leadership are taken again) and
 * loses nothing.
 */
const skipReason = missingRequirements({ root: true, commands: ['ip', 'mkfs.ext4'] }) ?? throwawayPostgresProblem();

describe.skipIf(skipReason)(
  `PostgreSQL restarted under a running Manager${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    let postgres: ThrowawayPostgres;
    let cluster: Cluster;
    let images: { kernelImageId: string; rootfsImageId: string };

    beforeAll(async () => {
      postgres = await startThrowawayPostgres();
      cluster = await startCluster({ agentCount: 1, databaseUrl: postgres.url });
      images = await cluster.api('GET', '/v1/hosts').then(() => cluster.images());
    }, 90_000);

    afterAll(async () => {
      await cluster?.stop();
      postgres?.destroy();
    });

    it('keeps every VM, serves again and reconciles again after PostgreSQL comes back', async () => {
      const before = await cluster.api<ClusterVm>('POST', '/v1/vms', {
        name: 'before-restart',
        vcpuCount: 1,
        memoryMib: 128,
        ...images,
      });
      expect(before.status).toBe(201);
      const managerPid = cluster.manager.child.pid;

      postgres.stop();
      expect((await cluster.api('GET', '/readyz')).status).toBe(503);
      postgres.start();
      const restartedAt = performance.now();

      // The same Manager process answers again, with everything it had.
      await waitFor(async () => (await cluster.api('GET', '/readyz')).status === 200, {
        timeoutMs: 10_000,
        description: 'the manager is ready again',
      });
      expect(cluster.manager.child.pid).toBe(managerPid);
      expect(cluster.manager.child.exitCode).toBeNull();
      await cluster.waitForHealthyHosts();
      const after = await cluster.api<ClusterVm>('POST', '/v1/vms', {
        name: 'after-restart',
        vcpuCount: 1,
        memoryMib: 128,
        ...images,
      });
      expect(after.status, JSON.stringify(after.body)).toBe(201);
      const vms = await cluster.vms();
      expect(vms.map((vm) => `${vm.name} ${vm.state}`).sort()).toEqual(['after-restart running', 'before-restart running']);

      // The reconciler leads again: a VMM killed now is restarted.
      const agent = cluster.agents[0]!;
      const [pid] = vmmPidsOf(agent);
      process.kill(pid!, 'SIGKILL');
      const hostId = vms[0]!.hostId;
      await convergence(async () => {
        const now = await cluster.vms();
        const problems = await leaksOn(agent, hostId, now);
        for (const vm of now) if (vm.state !== 'running') problems.push(`${vm.name} is ${vm.state}`);
        if (vmmPidsOf(agent).length !== 2 || vmmPidsOf(agent).includes(pid!)) problems.push('the killed VMM is not replaced yet');
        return problems;
      }, 5_000);
      console.log(
        `postgres restart: manager recovered in ${(performance.now() - restartedAt).toFixed(0)} ms (restart, create and VMM repair included)`,
      );
    }, 60_000);
  },
);
