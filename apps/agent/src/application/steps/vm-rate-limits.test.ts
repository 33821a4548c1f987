import { describe, expect, it } from 'vitest';
import type { RateLimits, VmSpec } from '@hearth/contracts';
import { createFakeAgent, type FakeAgent } from '../../adapters/fake/fake-agent-context.js';
import { otherVmId, testSpec, testVmId } from '../../adapters/fake/fake-fixtures.js';
import { agentDriveId, agentIfaceId } from '../../domain/proxy-request.js';
import { vmPaths } from '../../domain/vm-paths.js';
import { applyVm } from '../use-cases/apply-vm.js';
import { snapshotVm } from '../use-cases/snapshot-vm.js';
import { stopVm } from '../use-cases/stop-vm.js';
import { setRateLimits } from './vm-rate-limits.js';

const limits: RateLimits = {
  networkRx: { bandwidth: { size: 1_000_000, refillTimeMs: 100 } },
  networkTx: {
    bandwidth: { size: 500_000, oneTimeBurst: 2_000_000, refillTimeMs: 100 },
    ops: { size: 1000, refillTimeMs: 1000 },
  },
  drive: { ops: { size: 200, refillTimeMs: 1000 } },
};
const socketPath = vmPaths('/srv/fc', testVmId).socket;

async function heldLimits(agent: FakeAgent, path = socketPath): Promise<RateLimits> {
  return agent.firecracker.client(path).readRateLimits({ driveId: agentDriveId, ifaceId: agentIfaceId });
}

function patchesOf(agent: FakeAgent, path = socketPath): string[] {
  const process = agent.vmm.liveProcessOn(path);
  return (process?.calls ?? []).filter((call) => call.method === 'PATCH').map((call) => call.path);
}

describe('rate limits', () => {
  it('are given to the drive and the network interface when they are put, and nothing is limited without them', async () => {
    const limited = createFakeAgent();
    const plain = createFakeAgent();

    await applyVm(limited.context, testVmId, { ...testSpec, rateLimits: limits });
    await applyVm(plain.context, testVmId, testSpec);

    expect(await heldLimits(limited)).toEqual(limits);
    expect(await heldLimits(plain)).toEqual({});
  });

  it('change live on a running VM: given limiters replace the old, absent ones stop limiting', async () => {
    const agent = createFakeAgent();
    await applyVm(agent.context, testVmId, { ...testSpec, rateLimits: limits });
    const pidBefore = agent.vmm.liveProcessOn(socketPath)?.pid;
    const next: RateLimits = { drive: { bandwidth: { size: 10_000_000, refillTimeMs: 1000 } } };

    const isApplied = await setRateLimits(agent.context, testVmId, next);

    expect(isApplied).toBe(true);
    expect(await heldLimits(agent)).toEqual(next);
    expect(agent.vmm.liveProcessOn(socketPath)?.pid).toBe(pidBefore);
    expect((await agent.records.get(testVmId))?.spec?.rateLimits).toEqual(next);
  });

  it('the same limits again change nothing on the host', async () => {
    const agent = createFakeAgent();
    await applyVm(agent.context, testVmId, { ...testSpec, rateLimits: limits });

    expect(await setRateLimits(agent.context, testVmId, structuredClone(limits))).toBe(false);
    expect(patchesOf(agent)).toEqual([]);
  });

  it('a stopped VM keeps new limits for its next start', async () => {
    const agent = createFakeAgent();
    await applyVm(agent.context, testVmId, testSpec);
    await stopVm(agent.context, testVmId);

    expect(await setRateLimits(agent.context, testVmId, limits)).toBe(false);
    const spec = (await agent.records.get(testVmId))?.spec;
    await applyVm(agent.context, testVmId, spec as VmSpec);

    expect(await heldLimits(agent)).toEqual(limits);
  });

  it('a running VM applied again with other limits is patched, not restarted', async () => {
    const agent = createFakeAgent();
    await applyVm(agent.context, testVmId, testSpec);
    const pidBefore = agent.vmm.liveProcessOn(socketPath)?.pid;

    await applyVm(agent.context, testVmId, { ...testSpec, rateLimits: limits });

    expect(agent.vmm.liveProcessOn(socketPath)?.pid).toBe(pidBefore);
    expect(await heldLimits(agent)).toEqual(limits);
    expect(patchesOf(agent)).toEqual([`/network-interfaces/${agentIfaceId}`, `/drives/${agentDriveId}`]);
  });

  it("a VM restored from a snapshot gets its own limits, not those of the snapshot's VM", async () => {
    const agent = createFakeAgent();
    const guest = { prefixLength: 16, gateway: '172.30.0.1', dnsServers: [] };
    await applyVm(agent.context, testVmId, {
      ...testSpec,
      rateLimits: limits,
      guest: { ...guest, ipAddress: '172.30.0.5', hostname: 'source' },
    });
    const snapshotId = 'snap_01JABCDEFGHJKMNPQRSTVWXYZ0';
    await snapshotVm(agent.context, testVmId, snapshotId, { afterwards: 'previous_state' });
    const own: RateLimits = { networkRx: { ops: { size: 50, refillTimeMs: 10 } } };

    await applyVm(agent.context, otherVmId, {
      ...testSpec,
      guestMac: '06:00:ac:10:00:09',
      guest: { ...guest, ipAddress: '172.30.0.9', hostname: 'clone' },
      restoreFrom: { vmId: testVmId, snapshotId },
      rateLimits: own,
    });

    expect(await heldLimits(agent, vmPaths('/srv/fc', otherVmId).socket)).toEqual(own);
  });
});
