import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findGuestImages, missingRequirements, waitFor } from '@hearth/testkit';
import { httpGet, pings, waitForGuestHttp } from './support/guest.js';
import { startStack, type Stack } from './support/stack.js';

interface Vm {
  id: string;
  state: string;
  totalMs: number;
  network: { ipAddress: string } | null;
}

const gateway = '172.30.0.1';
const images = await findGuestImages();
const imagesDir = images.dir;
const skipReason =
  missingRequirements({ root: true, database: true, commands: ['ip', 'ping', 'busybox', 'qemu-system-x86_64'] }) ??
  images.missing;

/**
 * Every process in the namespace (VMMs and their QEMUs run there) but the Agent's own `ip -batch`,
 * which changes links there for as long as the Agent runs.
 */
function processesIn(stack: Stack): number[] {
  const out = execFileSync('ip', ['netns', 'pids', stack.netns.name], { encoding: 'utf8' });
  return out
    .split(/\s+/)
    .filter(Boolean)
    .map(Number)
    .filter((pid) => !isAgentSession(stack, pid));
}

/** The Agent's long-lived helpers, which outlive every VM: its `ip -batch` and its `nft -i` session. */
function isAgentSession(stack: Stack, pid: number): boolean {
  try {
    const parent = Number(/^PPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const program = path.basename(argv[0] ?? '');
    const isSession = (program === 'ip' && argv.includes('-batch')) || (program === 'nft' && argv.includes('-i'));
    return parent === stack.agent.child.pid && isSession;
  } catch {
    return false; // gone meanwhile
  }
}

describe.skipIf(skipReason)(
  `real guests under QEMU through the unchanged Agent${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    let stack: Stack;
    let kernelId: string;
    let rootfsId: string;

    async function createVm(name: string, guestIp: string): Promise<Vm> {
      const response = await stack.api<Vm>('POST', '/v1/vms', {
        name,
        vcpuCount: 1,
        memoryMib: 256,
        kernelImageId: kernelId,
        rootfsImageId: rootfsId,
        // No ip= argument: the address is leased and the Agent configures the guest with it.
        bootArgs: 'console=ttyS0 reboot=k panic=1',
        ipAddress: guestIp,
      });
      expect(response.status, JSON.stringify(response.body)).toBe(201);
      expect(response.body.state).toBe('running');
      expect(response.body.network?.ipAddress).toBe(guestIp);
      return response.body;
    }

    beforeAll(async () => {
      stack = await startStack({ doubleEnv: { FC_DOUBLE_BACKEND: 'qemu' }, bridgeCidr: `${gateway}/16` });
      for (const file of ['vmlinux', 'rootfs.ext4']) {
        execFileSync('install', ['-D', '-m', '0644', path.join(imagesDir!, file), path.join(stack.imageRoot, file)]);
      }
      const kernel = await stack.api<{ id: string }>('POST', '/v1/images', {
        kind: 'kernel',
        name: 'hearth-6-1',
        hostPath: path.join(stack.imageRoot, 'vmlinux'),
      });
      expect(kernel.status, JSON.stringify(kernel.body)).toBe(201);
      kernelId = kernel.body.id;
      const rootfs = await stack.api<{ id: string }>('POST', '/v1/images', {
        kind: 'rootfs',
        name: 'hearth-busybox',
        hostPath: path.join(stack.imageRoot, 'rootfs.ext4'),
      });
      expect(rootfs.status, JSON.stringify(rootfs.body)).toBe(201);
      rootfsId = rootfs.body.id;
    }, 60_000);

    afterAll(async () => {
      await stack?.stop();
    });

    it('boots a guest that answers ping and HTTP on its TAP, stops answering while paused, and leaves nothing behind', async () => {
      const started = performance.now();
      const vm = await createVm('guest-one', '172.30.0.2');
      const page = await waitForGuestHttp(stack.netns, '172.30.0.2');
      const answeringMs = performance.now() - started;
      console.log(`create → guest answering HTTP: ${answeringMs.toFixed(0)} ms (API create ${vm.totalMs.toFixed(0)} ms)`);
      expect(page).toContain('HEARTH-GUEST-OK');
      expect(await pings(stack.netns, '172.30.0.2')).toBe(true);

      const paused = await stack.api<Vm>('POST', `/v1/vms/${vm.id}/pause`);
      expect(paused.status, JSON.stringify(paused.body)).toBe(200);
      expect(await pings(stack.netns, '172.30.0.2')).toBe(false);
      const resumed = await stack.api<Vm>('POST', `/v1/vms/${vm.id}/resume`);
      expect(resumed.status, JSON.stringify(resumed.body)).toBe(200);
      await waitFor(() => pings(stack.netns, '172.30.0.2'), { timeoutMs: 15_000, description: 'the resumed guest answers ping' });

      expect((await stack.api<Vm>('POST', `/v1/vms/${vm.id}/stop`)).body.state).toBe('stopped');
      expect(await pings(stack.netns, '172.30.0.2')).toBe(false);
      const deleted = await stack.api('DELETE', `/v1/vms/${vm.id}`);
      expect([200, 204]).toContain(deleted.status);
      expect(processesIn(stack)).toEqual([]);
      const { stdout } = await stack.netns.exec(['ip', '-o', 'link', 'show', 'type', 'tun']);
      expect(stdout.trim()).toBe('');
      expect(existsSync(path.join(stack.runDir, 'vms')) ? readdirSync(path.join(stack.runDir, 'vms')) : []).toEqual([]);
    }, 240_000);

    it('runs two guests at once, each with its own TAP, disk and address', async () => {
      const [one, two] = await Promise.all([createVm('guest-a', '172.30.0.11'), createVm('guest-b', '172.30.0.12')]);
      await Promise.all([waitForGuestHttp(stack.netns, '172.30.0.11'), waitForGuestHttp(stack.netns, '172.30.0.12')]);

      expect(await httpGet(stack.netns, 'http://172.30.0.11/cgi-bin/write?name=marker')).toContain('marker');
      expect(await httpGet(stack.netns, 'http://172.30.0.11/cgi-bin/read?name=marker')).toContain('marker');
      // busybox wget fails on a 404: the other guest's disk does not have the file.
      expect(await httpGet(stack.netns, 'http://172.30.0.12/cgi-bin/read?name=marker')).toBeUndefined();

      for (const vm of [one!, two!]) {
        const deleted = await stack.api('DELETE', `/v1/vms/${vm.id}`);
        expect([200, 204]).toContain(deleted.status);
      }
      expect(processesIn(stack)).toEqual([]);
      const { stdout } = await stack.netns.exec(['ip', '-o', 'link', 'show', 'type', 'tun']);
      expect(stdout.trim()).toBe('');
    }, 300_000);
  },
);
