import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missingRequirements, waitFor } from '@hearth/testkit';
import { startCluster, type Cluster, type ClusterAgent, type ClusterVm } from './support/cluster.js';

/**
 * Errors tell an API client what happened, never how the host is built: a failing host command's
 * command line and stderr, run-directory paths and the Agent's address stay in the logs, under the
 * correlation id the problem carries.
 */
const skipReason = missingRequirements({ root: true, database: true, commands: ['ip', 'mkfs.ext4'] });

describe.skipIf(skipReason)(`what errors show API clients${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let cluster: Cluster;
  let agent: ClusterAgent;
  let images: { kernelImageId: string; rootfsImageId: string };

  beforeAll(async () => {
    cluster = await startCluster({ agentCount: 1 });
    agent = cluster.agents[0]!;
    images = await cluster.images();
  }, 90_000);

  afterAll(async () => {
    await cluster?.stop();
  });

  /** The Manager's `request failed` lines under the id, waited for: the line goes out with the answer, not before it. */
  function failedRequestLines(correlationId: string): Promise<string[]> {
    return waitFor(
      () => {
        const lines = logLinesWith(cluster.manager.output(), correlationId).filter((line) => line.includes('request failed'));
        return lines.length > 0 ? lines : undefined;
      },
      { timeoutMs: 5_000, description: 'the manager logs the failed request under the correlation id' },
    );
  }

  /** What must not reach a client: how this host and its Agent are built. */
  function hostFacts(): string[] {
    return [
      agent.runDir,
      agent.url,
      new URL(agent.url).host,
      agent.netns.name,
      agent.bridge,
      'tuntap',
      'RTNETLINK',
      ' master ',
      'hearth-peer',
    ];
  }

  function expectNoHostFacts(text: string): void {
    for (const fact of hostFacts()) expect(text, `${fact} reached the client`).not.toContain(fact);
  }

  it('answers a failing host command with its code, a safe message and the id the logs have it under', async () => {
    // The bridge becomes a device that cannot take a TAP: `ip link set ... master <bridge>` fails.
    await agent.netns.exec(['ip', 'link', 'del', agent.bridge]);
    await agent.netns.exec(['ip', 'link', 'add', agent.bridge, 'type', 'veth', 'peer', 'name', 'hearth-peer']);
    await agent.netns.exec(['ip', 'link', 'set', agent.bridge, 'up']);
    try {
      await failCreateOnBrokenBridge();
    } finally {
      // The Agent makes its bridge again on the next apply.
      await agent.netns.exec(['ip', 'link', 'del', agent.bridge]);
    }
  }, 60_000);

  async function failCreateOnBrokenBridge(): Promise<void> {
    const correlationId = 'error-details-host-command-1';
    const created = await cluster.api<{ code: string; correlationId: string; details?: { vmId?: string } }>(
      'POST',
      '/v1/vms',
      { name: 'bridge-broken', vcpuCount: 1, memoryMib: 128, ...images },
      { 'x-request-id': correlationId },
    );
    expect(created.status).toBe(500);
    expect(created.body).toMatchObject({ code: 'HOST_COMMAND_FAILED', correlationId });
    expectNoHostFacts(JSON.stringify(created.body));

    // The failed VM says why, no more than the problem did.
    const vm = (await cluster.vms()).find((v) => v.name === 'bridge-broken') as ClusterVm;
    expect(vm).toMatchObject({ state: 'failed', failureReason: { code: 'HOST_COMMAND_FAILED' } });
    expectNoHostFacts(JSON.stringify(await cluster.api('GET', `/v1/vms/${vm.id}`)));
    expectNoHostFacts(JSON.stringify((await cluster.api('GET', `/v1/vms/${vm.id}/events`)).body));

    // The logs have the command line and its stderr (Agent) and the Agent's address (Manager) under the id.
    await waitFor(() => logLinesWith(agent.process.output(), correlationId).some((line) => line.includes('"argv"')), {
      timeoutMs: 5_000,
      description: 'the agent logs the failed command under the correlation id',
    });
    const agentLines = logLinesWith(agent.process.output(), correlationId).filter((line) => line.includes('"argv"'));
    expect(agentLines.join('\n')).toContain(agent.bridge);
    const managerLines = await failedRequestLines(correlationId);
    expect(managerLines.join('\n')).toContain(new URL(agent.url).host);

    await cluster.api('DELETE', `/v1/vms/${vm.id}`);
  }

  it('answers an unreachable Agent with AGENT_UNAVAILABLE, not its address, or accepts a stop', async () => {
    const created = await cluster.api<ClusterVm>('POST', '/v1/vms', {
      name: 'agent-gone',
      vcpuCount: 1,
      memoryMib: 128,
      ...images,
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const paused = await cluster.api<{ state: string }>('POST', `/v1/vms/${created.body.id}/pause`);
    expect(paused.body.state).toBe('paused');
    await agent.kill();
    try {
      // A resume fails at once when its host cannot be reached: the problem names no part of the host.
      const correlationId = 'error-details-agent-gone-1';
      const resumed = await cluster.api<{ code: string }>('POST', `/v1/vms/${created.body.id}/resume`, undefined, {
        'x-request-id': correlationId,
      });
      expect(resumed.body).toMatchObject({ code: 'AGENT_UNAVAILABLE', correlationId });
      expectNoHostFacts(JSON.stringify(resumed.body));
      const managerLines = await failedRequestLines(correlationId);
      expect(managerLines.join('\n')).toContain(new URL(agent.url).host);
      // A stop is accepted and carried on instead (202, `stopping`): its answer names no part of the host either.
      const stopped = await cluster.api<{ state: string }>('POST', `/v1/vms/${created.body.id}/stop`);
      expect(stopped.status, JSON.stringify(stopped.body)).toBe(202);
      expect(stopped.body.state).toBe('stopping');
      expectNoHostFacts(JSON.stringify(stopped.body));
    } finally {
      await agent.start();
      await cluster.waitForHealthyHosts();
    }
  }, 60_000);
});

function logLinesWith(output: string, correlationId: string): string[] {
  return output.split('\n').filter((line) => line.includes(correlationId));
}
