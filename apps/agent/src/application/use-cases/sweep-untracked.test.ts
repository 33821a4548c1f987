import { describe, expect, it } from 'vitest';
import { createFakeAgent } from '../../adapters/fake/fake-agent-context.js';
import { FakeHostScanner } from '../../adapters/fake/fake-host-scanner.js';
import { testSpec, testVmId } from '../../adapters/fake/fake-fixtures.js';
import { applyVm } from './apply-vm.js';
import { listInventory } from './list-inventory.js';
import { sweepUntracked } from './sweep-untracked.js';

const vmsDirectory = '/srv/fc/vms';

/** A host where the VM was applied, then the Agent restarted and found its record torn. */
async function hostWithUnreadableRecord() {
  const agent = createFakeAgent();
  const applied = await applyVm(agent.context, testVmId, testSpec);
  const scanner = new FakeHostScanner();
  scanner.vmms.push({ pid: applied.vm.pid ?? 0, socketPath: applied.vm.socketPath ?? '' });
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
