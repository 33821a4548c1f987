import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missingRequirements, waitFor, writeEmptyExt4, writeFakeKernel } from '@hearth/testkit';
import { startStack, type Stack } from './support/stack.js';

interface Vm {
  id: string;
  state: string;
  failureReason: { code: string } | null;
}
interface AgentVm {
  pid: number | null;
  vmmState: string;
}
interface Event {
  fromState: string | null;
  toState: string | null;
  message: string | null;
}

const skipReason = missingRequirements({ root: true, database: true, commands: ['ip', 'mkfs.ext4'] });
/** More reboots than the crash-loop guard allows restarts in its window. */
const crashLoopMaxRestarts = 2;
const reboots = crashLoopMaxRestarts + 2;

describe.skipIf(skipReason)(
  `a reboot from inside the guest, over real processes${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    let stack: Stack;
    let kernelImageId: string;
    let rootfsImageId: string;

    beforeAll(async () => {
      stack = await startStack({
        managerEnv: {
          MANAGER_CRASH_LOOP_MAX_RESTARTS: String(crashLoopMaxRestarts),
          // Any uptime: the test reboots the guest right after each start.
          MANAGER_GUEST_REBOOT_MIN_UPTIME_MS: '0',
          MANAGER_RESYNC_MS: '500',
        },
      });
      writeFakeKernel(path.join(stack.imageRoot, 'vmlinux.bin'));
      writeEmptyExt4(path.join(stack.imageRoot, 'rootfs.ext4'));
      const kernel = await stack.api<{ id: string }>('POST', '/v1/images', {
        kind: 'kernel',
        name: 'k',
        hostPath: 'vmlinux.bin',
      });
      const rootfs = await stack.api<{ id: string }>('POST', '/v1/images', {
        kind: 'rootfs',
        name: 'r',
        hostPath: 'rootfs.ext4',
      });
      kernelImageId = kernel.body.id;
      rootfsImageId = rootfs.body.id;
    }, 120_000);

    afterAll(async () => {
      await stack?.stop();
    });

    async function agentVm(vmId: string): Promise<AgentVm> {
      return (await (await stack.agentFetch(`/agent/v1/vms/${vmId}`)).json()) as AgentVm;
    }

    it('starts the VM again each time, never failed, however often it reboots', { timeout: 120_000 }, async () => {
      const created = await stack.api<Vm>('POST', '/v1/vms', {
        name: 'rebooter',
        vcpuCount: 1,
        memoryMib: 128,
        kernelImageId,
        rootfsImageId,
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const vmId = created.body.id;

      for (let i = 0; i < reboots; i += 1) {
        const before = await agentVm(vmId);
        expect(before.vmmState).toBe('running');
        // Ctrl+Alt+Del: the guest reboots, and Firecracker exits with code 0.
        const reboot = await stack.agentFetch(`/agent/v1/vms/${vmId}/proxy/actions`, {
          method: 'PUT',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ action_type: 'SendCtrlAltDel' }),
        });
        expect(reboot.status).toBe(204);
        await waitFor(
          async () => {
            const vm = (await stack.api<Vm>('GET', `/v1/vms/${vmId}`)).body;
            const now = await agentVm(vmId);
            return vm.state === 'running' && now.vmmState === 'running' && now.pid !== before.pid;
          },
          { timeoutMs: 20_000, intervalMs: 100, description: `reboot ${i + 1}: the VM runs again with a new VMM` },
        );
      }

      const vm = (await stack.api<Vm>('GET', `/v1/vms/${vmId}`)).body;
      expect(vm).toMatchObject({ state: 'running', failureReason: null });
      const events = (await stack.api<{ items: Event[] }>('GET', `/v1/vms/${vmId}/events?limit=100`)).body.items;
      expect(events.filter((event) => event.toState === 'failed')).toEqual([]);
      const restarts = events.filter((event) => event.fromState === 'running' && event.toState === 'starting');
      expect(restarts).toHaveLength(reboots);
      expect(restarts[0]?.message).toMatch(/guest rebooted/);
    });
  },
);
