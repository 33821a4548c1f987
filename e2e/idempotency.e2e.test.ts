import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missingRequirements } from '@hearth/testkit';
import { startCluster, type Cluster, type ClusterVm } from './support/cluster.js';
import type { ApiResponse } from './support/http.js';

/**
 * A Manager killed (SIGKILL) while requests hold their `Idempotency-Key`s: the claims die with it,
 * so each client that retries with its key after the restart gets its VM made, instead of
 * IDEMPOTENCY_KEY_IN_USE for a request that no longer runs anywhere.
 */
const skipReason = missingRequirements({ root: true, database: true, commands: ['ip', 'mkfs.ext4'] });

/** The Manager's lease on a claimed key (`defaultIdempotencyOptions.leaseMs`). */
const leaseMs = 10_000;

describe.skipIf(skipReason)(`Idempotency-Key across a Manager crash${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let cluster: Cluster;
  let images: { kernelImageId: string; rootfsImageId: string };

  beforeAll(async () => {
    cluster = await startCluster({ agentCount: 1 });
    images = await cluster.images();
  }, 90_000);

  afterAll(async () => {
    await cluster?.stop();
  });

  const create = (name: string, key: string): Promise<ApiResponse<ClusterVm & { code?: string }>> =>
    cluster.api('POST', '/v1/vms', { name, vcpuCount: 1, memoryMib: 128, ...images }, { 'idempotency-key': key });

  it('makes the VM of every retried create whose claim died with the Manager, once each', async () => {
    await cluster.killManager();
    // The first request to claim its key kills the Manager; the others die with it.
    await cluster.startManager({ HEARTH_FAILPOINTS: 'manager.idempotency.after-claim=kill' });
    await cluster.waitForHealthyHosts();
    const names = ['retry-a', 'retry-b', 'retry-c'];
    const first = await Promise.allSettled(names.map((name) => create(name, `key-${name}`)));
    expect((await cluster.manager.exited).signal).toBe('SIGKILL');
    expect(first.every((outcome) => outcome.status === 'rejected')).toBe(true);

    await cluster.startManager();
    await cluster.waitForHealthyHosts();
    const retriedAt = performance.now();
    const retries = await Promise.all(names.map((name) => create(name, `key-${name}`)));
    const retryMs = performance.now() - retriedAt;
    expect(retries.map((r) => `${r.status} ${r.body.code ?? r.body.state}`)).toEqual(names.map(() => '201 running'));
    // The dead claim is free once its lease ran out: well before a retry's wait (30 s) is over.
    expect(retryMs).toBeLessThan(leaseMs + 5_000);

    // A second retry is a replay of the answer, not a second VM.
    const again = await create('retry-a', 'key-retry-a');
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body.id).toBe(retries[0]!.body.id);
    const vms = (await cluster.vms()).filter((vm) => names.includes(vm.name));
    expect(vms.map((vm) => `${vm.name} ${vm.state}`).sort()).toEqual(names.map((name) => `${name} running`));
    console.log(`idempotency: keys of the killed Manager free again; the retries took ${retryMs.toFixed(0)} ms`);
  }, 90_000);
});
