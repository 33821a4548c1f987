import type { AgentVm, Inventory } from '@hearth/contracts';
import { describe, expect, it } from 'vitest';
import { heldInventoryOf } from './held-inventory.js';
import { SharedValues } from './shared-values.js';

function agentVmOf(vmId: string, extra: Partial<AgentVm> = {}): AgentVm {
  return {
    vmId,
    vmmState: 'running',
    pid: 1234,
    tapName: 'hrth-0123456789',
    socketPath: `/var/lib/hearth/vms/${vmId}/firecracker.sock`,
    rootfsPath: `/var/lib/hearth/vms/${vmId}/rootfs.ext4`,
    resources: [],
    holdsRuntimeResources: true,
    egress: { policy: { mode: 'allow_all' }, isInPlace: true },
    rateLimits: {},
    ...extra,
  };
}

describe('heldInventoryOf', () => {
  it('keeps what the reconciler reads of each VM and shares what VMs have in common', () => {
    const inventory: Inventory = {
      hostName: 'host-a',
      vms: [
        agentVmOf('vm_a'),
        agentVmOf('vm_b', {
          vmmState: 'exited',
          vmmExit: { code: 1, signal: null },
          snapshots: [{ id: 'snap_1', state: 'ready' }],
        }),
        agentVmOf('vm_c', { holdsRuntimeResources: undefined, resources: [{ kind: 'tap', ref: 'hrth-x', vmId: 'vm_c' }] }),
      ],
      snapshotCopies: [],
    };
    const held = heldInventoryOf(inventory, new SharedValues());

    expect(held.vms[0]).toEqual({
      vmId: 'vm_a',
      vmmState: 'running',
      vmmExit: undefined,
      snapshots: undefined,
      egress: { policy: { mode: 'allow_all' }, isInPlace: true },
      rateLimits: {},
      holdsRuntimeResources: true,
    });
    expect(held.vms[1]).toMatchObject({ vmmState: 'exited', vmmExit: { code: 1, signal: null }, snapshots: [{ id: 'snap_1' }] });
    // An older Agent's entry says it by its resources only.
    expect(held.vms[2]?.holdsRuntimeResources).toBe(true);
    expect(held.vms[0]?.egress).toBe(held.vms[1]?.egress);
    expect(held.vms[0]?.rateLimits).toBe(held.vms[2]?.rateLimits);
    expect(held.snapshotCopies).toEqual([]);
  });
});
