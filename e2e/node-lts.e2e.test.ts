import { execFile } from 'node:child_process';
import { readlinkSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missingRequirements, waitFor } from '@hearth/testkit';
import { leaksOn, startCluster, vmmPidsOf, type Cluster, type ClusterVm } from './support/cluster.js';

/**
 * The product on the current Node.js LTS line as well as on the one running the tests: the
 * Manager (on its embedded database), the Agent and the VMMs (the double) all run on Node 24,
 * fetched from the npm registry as the `node` package provides it, through a VM's whole life.
 */
const skipReason = missingRequirements({ root: true, commands: ['ip', 'mkfs.ext4'] });
const lts = '24';

/** The `node` binary of release line `major`, from the npm cache (fetched on first use). */
async function nodeOfLine(major: string): Promise<string> {
  const { stdout } = await promisify(execFile)(
    'npm',
    ['exec', '--yes', `--package=node@${major}`, '--', 'node', '-p', 'process.execPath + " " + process.version'],
    { timeout: 300_000 },
  );
  const [binary, version] = stdout.trim().split(' ');
  if (binary === undefined || version === undefined || !version.startsWith(`v${major}.`)) {
    throw new Error(`npm exec node@${major} answered ${JSON.stringify(stdout)}`);
  }
  return realpathSync(binary);
}

function executableOf(pid: number): string {
  return realpathSync(readlinkSync(`/proc/${pid}/exe`));
}

describe.skipIf(skipReason)(`the product on Node.js ${lts}${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let node: string;
  let cluster: Cluster;

  beforeAll(async () => {
    node = await nodeOfLine(lts);
    // Heartbeats a second apart (a tolerance of 3 s): this test asks nothing of how soon a silent host
    // is noticed, and a loaded machine's late timer must not turn its VM unknown between two calls.
    cluster = await startCluster({
      agentCount: 1,
      databaseUrl: 'embedded',
      nodeBinDir: path.dirname(node),
      managerEnv: { MANAGER_HEARTBEAT_MS: '1000' },
    });
  }, 400_000);

  afterAll(async () => {
    await cluster?.stop();
  }, 60_000);

  it('runs the Manager, the Agent and the VMM on it, through create, pause, resume, stop, start and delete', async () => {
    const agent = cluster.agents[0]!;
    expect(executableOf(cluster.manager.child.pid!)).toBe(node);
    expect(executableOf(agent.process.child.pid!)).toBe(node);

    const created = await cluster.api<ClusterVm>('POST', '/v1/vms', {
      name: 'on-lts',
      vcpuCount: 1,
      memoryMib: 128,
      ...(await cluster.images()),
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.state).toBe('running');
    const id = created.body.id;
    const [vmm] = vmmPidsOf(agent);
    expect(vmm).toBeDefined();
    expect(executableOf(vmm!)).toBe(node);

    for (const [action, state] of [
      ['pause', 'paused'],
      ['resume', 'running'],
      ['stop', 'stopped'],
      ['start', 'running'],
    ] as const) {
      const answer = await cluster.api<ClusterVm>('POST', `/v1/vms/${id}/${action}`);
      expect(answer.status, `${action}: ${JSON.stringify(answer.body)}`).toBe(200);
      expect(answer.body.state).toBe(state);
    }
    expect((await cluster.api('DELETE', `/v1/vms/${id}`)).status).toBeLessThan(300);
    const hostId = created.body.hostId;
    let leaks: string[] = [];
    await waitFor(
      async () => {
        leaks = await leaksOn(agent, hostId, await cluster.vms());
        return (await cluster.vms()).length === 0 && leaks.length === 0;
      },
      { timeoutMs: 10_000, description: () => `the VM deleted and nothing left on the host: ${leaks.join('; ')}` },
    );
  }, 120_000);
});
