import { describe, expect, it } from 'vitest';
import { createFakeAgent } from '../../adapters/fake/fake-agent-context.js';
import { FakeHostScanner } from '../../adapters/fake/fake-host-scanner.js';
import { otherVmId, testSpec, testVmId } from '../../adapters/fake/fake-fixtures.js';
import { applyVm } from './apply-vm.js';
import { listInventory } from './list-inventory.js';
import { sweepUntracked } from './sweep-untracked.js';

const vmsDirectory = '/srv/fc/vms';

/** A host where the VM was applied, then the Agent restarted and found its record torn. */
async function hostWithUnreadableRecord() {
  const agent = createFakeAgent();
  const applied = await applyVm(agent.context, testVmId, testSpec);
  const scanner = new FakeHostScanner();
  scanner.vmms.push({ pid: applied.vm.pid ?? 0, socketPath: applied.vm.socketPath ?? '', workingDirectory: null });
  scanner.directories.set(vmsDirectory, [testVmId]);
  agent.records.markUnreadable(testVmId, `${vmsDirectory}/${testVmId}`, 'record is not valid JSON');
  return { agent, applied, scanner };
}

describe('sweepUntracked', () => {
  it('leaves the directory, rootfs copy, VMM and TAP of a VM whose record is unreadable', async () => {
    const { agent, applied, scanner } = await hostWithUnreadableRecord();

    const outcome = await sweepUntracked(agent.context, scanner);

    expect(outcome).toEqual({ removed: [], leftovers: [] });
    expect(scanner.killed).toEqual([]);
    expect(agent.network.links.has(applied.vm.tapName ?? '')).toBe(true);
    expect(await agent.files.exists(applied.vm.rootfsPath ?? '')).toBe(true);
  });

  it('still removes a VM directory that no record, readable or not, names', async () => {
    const agent = createFakeAgent();
    const scanner = new FakeHostScanner();
    const directory = `${vmsDirectory}/${testVmId}`;
    agent.files.files.set(directory, { kind: 'directory', content: '', sizeBytes: 0 });
    scanner.directories.set(vmsDirectory, [testVmId]);

    const outcome = await sweepUntracked(agent.context, scanner);

    expect(outcome.removed).toEqual([{ kind: 'directory', ref: directory, vmId: testVmId }]);
  });
});

describe('sweepUntracked and warm VMMs', () => {
  const poolDirectory = '/srv/fc/vmm-pool';

  it('kills the idle warm VMMs an earlier Agent left and removes their directories', async () => {
    const agent = createFakeAgent();
    const scanner = new FakeHostScanner();
    scanner.vmms.push({ pid: 7001, socketPath: `${poolDirectory}/a1/fc.sock`, workingDirectory: `${poolDirectory}/a1` });
    scanner.directories.set(poolDirectory, ['a1', 'b2']);
    agent.files.addFile(`${poolDirectory}/a1/fc.sock`);
    agent.files.addFile(`${poolDirectory}/b2/stdout.log`);

    const outcome = await sweepUntracked(agent.context, scanner);

    expect(scanner.killed).toEqual([7001]);
    expect(agent.files.pathsUnder(poolDirectory)).toEqual([]);
    expect(outcome.removed).toEqual([
      { kind: 'process', ref: '7001', vmId: '' },
      { kind: 'directory', ref: `${poolDirectory}/a1`, vmId: '' },
      { kind: 'directory', ref: `${poolDirectory}/b2`, vmId: '' },
    ]);
  });

  it("kills a warm VMM working in a VM's directory that no record names, and removes that directory", async () => {
    const agent = createFakeAgent();
    const scanner = new FakeHostScanner();
    const directory = `${vmsDirectory}/${testVmId}`;
    // Its command line still names the pool's directory; its working directory moved.
    scanner.vmms.push({ pid: 7002, socketPath: `${poolDirectory}/c3/fc.sock`, workingDirectory: directory });
    scanner.directories.set(vmsDirectory, [testVmId]);
    agent.files.addFile(`${directory}/fc.sock`);

    const outcome = await sweepUntracked(agent.context, scanner);

    expect(scanner.killed).toEqual([7002]);
    expect(outcome.removed).toEqual([
      { kind: 'process', ref: '7002', vmId: testVmId },
      { kind: 'directory', ref: directory, vmId: testVmId },
    ]);
  });

  it("leaves a warm VMM a VM's record names, and one in the directory of a VM whose record is unreadable", async () => {
    const { agent, scanner } = await hostWithUnreadableRecord();
    scanner.vmms.length = 0;
    scanner.vmms.push({ pid: 7003, socketPath: `${poolDirectory}/d4/fc.sock`, workingDirectory: `${vmsDirectory}/${testVmId}` });
    const other = await applyVm(agent.context, otherVmId, testSpec);
    const recordedPid = other.vm.pid ?? 0;
    scanner.vmms.push({
      pid: recordedPid,
      socketPath: `${poolDirectory}/e5/fc.sock`,
      workingDirectory: `${vmsDirectory}/${otherVmId}`,
    });

    const outcome = await sweepUntracked(agent.context, scanner);

    expect(scanner.killed).toEqual([]);
    expect(outcome.removed.filter((resource) => resource.kind === 'process')).toEqual([]);
  });
});

describe('listInventory', () => {
  it('reports a VM whose record is unreadable as unreadable, with its directory', async () => {
    const { agent } = await hostWithUnreadableRecord();

    const inventory = await listInventory(agent.context, 'host-a');

    expect(inventory.vms).toEqual([
      expect.objectContaining({
        vmId: testVmId,
        vmmState: 'unreadable',
        resources: [{ kind: 'directory', ref: `${vmsDirectory}/${testVmId}`, vmId: testVmId }],
      }),
    ]);
  });
});
