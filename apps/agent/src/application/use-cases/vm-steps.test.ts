import { describe, expect, it } from 'vitest';
import { createFakeAgent, fakeRootfsPath } from '../../adapters/fake/fake-agent-context.js';
import { runMetricsPrepareStep, runRootfsStep, runSpawnStep, runTapStep } from './vm-steps.js';
import { appErrorOf, otherVmId, testVmId } from '../../adapters/fake/fake-fixtures.js';

describe('single steps', () => {
  it('creates the bridge and a 15-byte TAP attached to it', async () => {
    const agent = createFakeAgent({ bridgeAddressCidr: '172.30.0.1/24' });

    const result = await runTapStep(agent.context, testVmId);

    expect(result).toEqual({ tapName: 'fcmnpqrstvwxyz0', bridge: 'fcbr0' });
    expect(agent.network.links.get('fcmnpqrstvwxyz0')).toMatchObject({ master: 'fcbr0', isUp: true });
    expect(agent.network.links.get('fcbr0')?.addresses).toEqual(['172.30.0.1/24']);
  });

  it('reuses the TAP already recorded for the VM', async () => {
    const agent = createFakeAgent();
    await runTapStep(agent.context, testVmId);

    const again = await runTapStep(agent.context, testVmId);

    expect(again.tapName).toBe('fcmnpqrstvwxyz0');
    expect([...agent.network.links.keys()]).toEqual(['fcbr0', 'fcmnpqrstvwxyz0']);
  });

  it('never gives two VMs the same TAP name', async () => {
    const agent = createFakeAgent();
    // Same random-part prefix: the first candidate of both VMs collides.
    const first = await runTapStep(agent.context, testVmId);
    const second = await runTapStep(agent.context, otherVmId);

    expect(second.tapName).not.toBe(first.tapName);
  });

  it('spawns once and answers wasRunning for a live VMM', async () => {
    const agent = createFakeAgent();
    const first = await runSpawnStep(agent.context, testVmId);

    const second = await runSpawnStep(agent.context, testVmId);

    expect(first.wasRunning).toBe(false);
    expect(second).toEqual({ ...first, wasRunning: true });
  });

  it('removes a stale socket before spawning, as Firecracker refuses an existing path', async () => {
    const agent = createFakeAgent();
    agent.files.files.set(`/srv/fc/vms/${testVmId}/fc.sock`, { kind: 'socket', content: '', sizeBytes: 0 });

    const result = await runSpawnStep(agent.context, testVmId);

    expect(result.wasRunning).toBe(false);
    expect(agent.vmm.liveProcesses).toHaveLength(1);
  });

  it('copies the rootfs into the VM directory and resolves the source inside the image root', async () => {
    const agent = createFakeAgent();

    const result = await runRootfsStep(agent.context, testVmId, fakeRootfsPath);

    expect(result).toEqual({ rootfsPath: `/srv/fc/vms/${testVmId}/rootfs.ext4`, sizeBytes: 64 * 1024 * 1024 });
    expect((await appErrorOf(runRootfsStep(agent.context, testVmId, '/etc/passwd'))).code).toBe('IMAGE_PATH_FORBIDDEN');
  });

  it('creates the metrics FIFO once', async () => {
    const agent = createFakeAgent();

    const result = await runMetricsPrepareStep(agent.context, testVmId);

    expect(result).toEqual({ fifoPath: `/srv/fc/vms/${testVmId}/metrics.fifo` });
    expect(agent.files.files.get(result.fifoPath)?.kind).toBe('fifo');
  });
});
