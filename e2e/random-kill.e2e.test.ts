import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missingRequirements } from '@hearth/testkit';
import {
  convergence,
  leaksOn,
  startCluster,
  vmmPidsOf,
  type Cluster,
  type ClusterAgent,
  type ClusterVm,
} from './support/cluster.js';
import { runSeed, seededRandom, type SeededRandom } from './support/seeded-random.js';

/**
 * Crashes at moments nobody chose: while VMs are created, stopped and deleted concurrently, the
 * Manager (on PGlite, its default database, and on PostgreSQL), the Agent or VMMs are killed -9 at
 * a random moment and started again. Then everything must converge: every create the API accepted
 * runs (or is failed with a reason), every stop or delete it answered is done, no VM is left in a
 * transient state, and the host holds nothing the records do not account for.
 *
 * The moments come from a seed, printed at the start; HEARTH_CRASH_SEED=<seed> replays a run.
 */
const skipReason = missingRequirements({ root: true, database: true, commands: ['ip', 'mkfs.ext4'] });
const seedVariable = 'HEARTH_CRASH_SEED';
const seed = runSeed(process.env, seedVariable);
/** From the restart of what was killed to a converged installation: up to 20 VMs, on 2 slow cores. */
const convergenceBudgetMs = 30_000;
const stableStates = new Set(['running', 'stopped', 'failed']);

interface Operation {
  readonly kind: 'create' | 'stop' | 'delete';
  readonly name: string;
  /** The HTTP status, or undefined when the connection was cut (the Manager was killed). */
  readonly status: number | undefined;
  /** The problem's code, for an answer that is one. */
  readonly code?: string | undefined;
}

function replayHint(): string {
  return `seed ${seed} (replay: ${seedVariable}=${seed})`;
}

if (!skipReason) console.log(`random-moment kills: ${replayHint()}`);

describe.skipIf(skipReason)(`random-moment kills under concurrent load${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  describe.each([
    { database: 'PGlite', databaseUrl: 'embedded' as const, isWholeSuite: true },
    { database: 'PostgreSQL', databaseUrl: undefined, isWholeSuite: false },
  ])('the Manager on $database', ({ database, databaseUrl, isWholeSuite }) => {
    let cluster: Cluster;
    let agent: ClusterAgent;
    let images: { kernelImageId: string; rootfsImageId: string };
    let hostId: string;
    let vmCount = 0;

    beforeAll(async () => {
      cluster = await startCluster({
        agentCount: 1,
        ...(databaseUrl === undefined ? {} : { databaseUrl }),
        // 20 VMs of 1 vCPU on a 2-core CI machine.
        managerEnv: { MANAGER_CPU_OVERCOMMIT: '16' },
      });
      agent = cluster.agents[0]!;
      images = await cluster.images();
      hostId = (await cluster.api<{ items: Array<{ id: string }> }>('GET', '/v1/hosts')).body.items[0]!.id;
    }, 180_000);

    afterAll(async () => {
      await cluster?.stop();
    });

    function names(prefix: string, count: number): string[] {
      return Array.from({ length: count }, () => `${prefix}-${(vmCount += 1)}`);
    }

    /** One request, its status kept; a connection cut by a killed Manager answers undefined. */
    async function attempt(
      kind: Operation['kind'],
      name: string,
      send: () => Promise<{ status: number; body: unknown }>,
    ): Promise<Operation> {
      try {
        const { status, body } = await send();
        return { kind, name, status, code: (body as { code?: string } | undefined)?.code };
      } catch {
        return { kind, name, status: undefined };
      }
    }

    const createAsync = (name: string): Promise<Operation> =>
      attempt('create', name, () => cluster.api('POST', '/v1/vms?wait=false', { name, vcpuCount: 1, memoryMib: 128, ...images }));

    async function createRunning(count: number, prefix: string): Promise<ClusterVm[]> {
      await cluster.waitForHealthyHosts();
      const created = await Promise.all(
        names(prefix, count).map((name) =>
          cluster.api<ClusterVm>('POST', '/v1/vms', { name, vcpuCount: 1, memoryMib: 128, ...images }),
        ),
      );
      for (const response of created) expect(response.status, JSON.stringify(response.body)).toBe(201);
      return created.map((response) => response.body);
    }

    /**
     * Problems (empty when none): a VM in a transient state or failed without a reason, an accepted
     * create missing, an answered delete not done, an answered stop not stopped, a leak on the host;
     * `isRunningRequired`: every VM must run.
     */
    async function problemsAfter(
      operations: readonly Operation[],
      options: { isRunningRequired?: boolean } = {},
    ): Promise<string[]> {
      const vms = await cluster.vms();
      const byName = new Map(vms.map((vm) => [vm.name, vm]));
      const problems = await leaksOn(agent, hostId, vms);
      for (const vm of vms) {
        if (!stableStates.has(vm.state)) problems.push(`${vm.name} is ${vm.state}`);
        else if (vm.state === 'failed' && vm.failureReason === null) problems.push(`${vm.name} is failed without a reason`);
        else if (options.isRunningRequired === true && vm.state !== 'running') {
          problems.push(
            `${vm.name} is ${vm.state} (${vm.failureReason?.code ?? ''} ${vm.failureReason?.message ?? ''}), not running`,
          );
        }
      }
      for (const operation of operations) {
        const vm = byName.get(operation.name);
        const isAnswered = operation.status !== undefined && operation.status < 300;
        if (operation.kind === 'create' && isAnswered && vm === undefined)
          problems.push(`accepted create ${operation.name} is gone`);
        if (operation.kind === 'delete' && isAnswered && vm !== undefined)
          problems.push(`deleted ${operation.name} is ${vm.state}`);
        if (operation.kind === 'stop' && isAnswered && vm?.state !== 'stopped') {
          problems.push(`stopped ${operation.name} is ${vm?.state ?? 'gone'}`);
        }
      }
      return problems;
    }

    async function converge(what: string, check: () => Promise<string[]>): Promise<void> {
      try {
        const convergedMs = await convergence(check, convergenceBudgetMs);
        console.log(`${what}: converged in ${convergedMs.toFixed(0)} ms`);
      } catch (error) {
        throw new Error(`${what}: ${(error as Error).message}\n${replayHint()}`);
      }
    }

    /** Deletes every VM and requires that nothing of them is left, so the next scenario starts clean. */
    async function removeAll(what: string): Promise<void> {
      await converge(`${what}, cleanup`, async () => {
        const vms = await cluster.vms();
        await Promise.all(
          vms
            .filter((vm) => vm.state !== 'deleting')
            .map((vm) => cluster.api('DELETE', `/v1/vms/${vm.id}`).catch(() => undefined)),
        );
        const left = await cluster.vms();
        const problems = await leaksOn(agent, hostId, left);
        for (const vm of left) problems.push(`${vm.name} is still there (${vm.state})`);
        return problems;
      });
    }

    /** Runs one scenario, then removes every VM; after a failure the removal is tried and the failure stands. */
    async function scenario(what: string, body: () => Promise<void>): Promise<void> {
      try {
        await body();
      } catch (error) {
        await removeAll(what).catch(() => undefined);
        throw error;
      }
      await removeAll(what);
    }

    /** Creates, stops and deletes at once: `fresh` asynchronous creates, and a random stop, delete or nothing for each of `existing`. */
    function workload(random: SeededRandom, fresh: readonly string[], existing: readonly ClusterVm[]): Promise<Operation[]> {
      const operations = [
        ...fresh.map((name) => createAsync(name)),
        ...existing.map((vm) => {
          const kind = random.pick(['stop', 'delete', 'none'] as const);
          if (kind === 'none') return Promise.resolve(undefined);
          const send = (): Promise<{ status: number; body: unknown }> =>
            kind === 'stop' ? cluster.api('POST', `/v1/vms/${vm.id}/stop`) : cluster.api('DELETE', `/v1/vms/${vm.id}`);
          return attempt(kind, vm.name, send);
        }),
      ];
      return Promise.all(operations).then((done) => done.filter((operation) => operation !== undefined));
    }

    it('the Manager killed at a random moment during concurrent creates, stops and deletes: everything converges, nothing leaks', async () => {
      const what = `Manager on ${database}`;
      await scenario(what, async () => {
        const random = seededRandom(seed).fork(what);
        const existing = await createRunning(4, 'mk');
        const killAfterMs = random.int(0, 800);
        const downForMs = random.int(0, 500);
        console.log(`${what}: killed ${killAfterMs} ms into the workload, down for ${downForMs} ms`);
        const running = workload(random, names('mk', 6), existing);
        await sleep(killAfterMs);
        await cluster.killManager();
        await sleep(downForMs);
        await cluster.startManager();
        const operations = await running;
        await converge(what, () => problemsAfter(operations));
      });
    }, 240_000);

    // The Agent and the VMMs do not depend on the Manager's database: these run once, on the
    // embedded default, rather than show up as skipped on PostgreSQL.
    if (isWholeSuite)
      it('the Agent killed at a random moment during 20 concurrent asynchronous creates, back within a second: every VM runs, nothing leaks', async () => {
        const what = `Agent (Manager on ${database})`;
        await scenario(what, async () => {
          const random = seededRandom(seed).fork(what);
          await cluster.waitForHealthyHosts();
          // Accepted first (the host is healthy), then the Agent dies while it applies them. A
          // create placement refuses (a heartbeat late under load) is not accepted, so not followed.
          const answered = await Promise.all(names('ak', 20).map((name) => createAsync(name)));
          const refused = answered.filter((operation) => operation.status !== 202);
          expect(refused.map((operation) => `${operation.status ?? 'cut'} ${operation.code ?? ''}`)).toEqual(
            refused.map(() => '503 HOST_NO_CAPACITY'),
          );
          const operations = answered.filter((operation) => operation.status === 202);
          expect(operations.length).toBeGreaterThan(0);
          const killAfterMs = random.int(0, 1_500);
          const downForMs = random.int(0, 1_000);
          const vms = await cluster.vms();
          console.log(
            `${what}: killed ${killAfterMs} ms after ${operations.length} of 20 creates were accepted (${vms.filter((vm) => vm.state === 'running').length} running then), down for ${downForMs} ms`,
          );
          await sleep(killAfterMs);
          await agent.kill();
          await sleep(downForMs);
          await agent.start();
          await converge(what, () => problemsAfter(operations, { isRunningRequired: true }));
        });
      }, 120_000);

    if (isWholeSuite)
      it('VMMs killed at random moments during concurrent creates, stops and deletes: everything converges, nothing leaks', async () => {
        const what = `VMMs (Manager on ${database})`;
        await scenario(what, async () => {
          const random = seededRandom(seed).fork(what);
          const existing = await createRunning(6, 'vk');
          const kills = Array.from({ length: 4 }, () => random.int(0, 1_500)).sort((a, b) => a - b);
          console.log(`${what}: a random VMM killed at ${kills.join(', ')} ms into the workload`);
          const startedAt = performance.now();
          const running = workload(random, names('vk', 4), existing);
          const killed: number[] = [];
          for (const atMs of kills) {
            await sleep(Math.max(0, atMs - (performance.now() - startedAt)));
            const pids = vmmPidsOf(agent);
            if (pids.length === 0) continue;
            const pid = random.pick(pids);
            try {
              process.kill(pid, 'SIGKILL');
              killed.push(pid);
            } catch {
              // it exited meanwhile (stopped or deleted)
            }
          }
          const operations = await running;
          console.log(`${what}: ${killed.length} VMMs killed`);
          await converge(what, () => problemsAfter(operations));
        });
      }, 120_000);
  });
});
