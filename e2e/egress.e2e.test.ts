import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missingRequirements } from '@hearth/testkit';
import { startCluster, type Cluster, type ClusterAgent } from './support/cluster.js';

/**
 * Egress policies through the public API, over a real Manager and a real Agent with egress through
 * NAT in its own namespace: the policy given at create and every change reach the VM's chain in
 * Hearth's nftables table, a change on a running VM is in its chain when the request is answered,
 * and a restart keeps the stored one. How fast a change lands is a figure of the bench
 * (`egress_change_p50_ms`), not a bound of this test.
 */
const skipReason = missingRequirements({ root: true, database: true, commands: ['ip', 'mkfs.ext4', 'nft'] });

interface VmBody {
  readonly id: string;
  readonly state: string;
  readonly version: number;
  readonly egress: { readonly mode: string };
}

describe.skipIf(skipReason)(`egress policies through the Manager${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let cluster: Cluster;
  let agent: ClusterAgent;
  let images: { kernelImageId: string; rootfsImageId: string };
  const changeMs: number[] = [];

  beforeAll(async () => {
    cluster = await startCluster({ agentCount: 1 });
    agent = cluster.agents[0]!;
    await agent.netns.exec(['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    await agent.kill();
    await agent.start({ AGENT_EGRESS: 'nat', AGENT_UPLINK: 'lo' });
    await cluster.waitForHealthyHosts();
    images = await cluster.images();
  }, 60_000);

  afterAll(async () => {
    if (changeMs.length > 0) {
      console.log(`egress policy change through the Manager: ${changeMs.map((ms) => `${ms.toFixed(0)} ms`).join(', ')}`);
    }
    await cluster?.stop();
  });

  /** The rules of the VM's chain in Hearth's table, as nft prints them. */
  async function chainRules(vmId: string): Promise<string[]> {
    const { stdout } = await agent.netns.exec(['nft', 'list', 'chain', 'ip', 'hearth', vmId]);
    return stdout
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => /(accept|drop)$/.test(line) && !line.startsWith('type '));
  }

  it('applies the policy given at create, and a change on the running VM by the time the request is answered', async () => {
    const created = await cluster.api<VmBody>('POST', '/v1/vms', {
      name: 'eg-1',
      vcpuCount: 1,
      memoryMib: 128,
      ...images,
      egress: { mode: 'deny_all' },
    });
    expect(created.status).toBe(201);
    expect(await chainRules(created.body.id)).toEqual(['drop']);

    const startedAt = performance.now();
    const changed = await cluster.api<VmBody>(
      'PUT',
      `/v1/vms/${created.body.id}/egress`,
      { mode: 'allow_list', rules: [{ cidr: '203.0.113.0/24', protocol: 'tcp', ports: [443] }] },
      { 'if-match': `"${created.body.version}"` },
    );
    changeMs.push(performance.now() - startedAt);

    expect(changed.status).toBe(200);
    const rules = await chainRules(created.body.id);
    expect(rules).toHaveLength(2);
    expect(rules[0]).toMatch(/^ip daddr 203\.0\.113\.0\/24 tcp dport (443|\{ 443 \}) accept$/);
    expect(rules[1]).toBe('drop');
  });

  it('a policy changed while the VM is stopped is applied by its next start', async () => {
    const created = await cluster.api<VmBody>('POST', '/v1/vms', { name: 'eg-2', vcpuCount: 1, memoryMib: 128, ...images });
    expect(await chainRules(created.body.id)).toEqual(['accept']);
    expect((await cluster.api('POST', `/v1/vms/${created.body.id}/stop`)).status).toBe(200);

    const changed = await cluster.api<VmBody>('PUT', `/v1/vms/${created.body.id}/egress`, { mode: 'deny_all' });
    expect(changed.body).toMatchObject({ state: 'stopped', egress: { mode: 'deny_all' } });
    expect((await cluster.api('POST', `/v1/vms/${created.body.id}/start`)).status).toBe(200);

    expect(await chainRules(created.body.id)).toEqual(['drop']);
  });
});
