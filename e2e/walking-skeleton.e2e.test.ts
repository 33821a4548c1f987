import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlive, missingRequirements } from '@hearth/testkit';
import { writeEmptyExt4, writeFakeKernel } from '@hearth/testkit';
import { startStack, type Stack } from './support/stack.js';

interface Problem {
  status: number;
  code: string;
  correlationId: string;
  errors?: Array<{ field: string }>;
}
interface Image {
  id: string;
}
interface Vm {
  id: string;
  state: string;
  hostId: string;
  steps: Array<{ name: string; durationMs: number }>;
  totalMs: number;
  network: { ipAddress: string; gateway: string } | null;
}
interface AgentVm {
  vmId: string;
  pid: number | null;
  tapName: string | null;
  socketPath: string | null;
  rootfsPath: string | null;
  resources: Array<{ kind: string; ref: string }>;
}

const skipReason = missingRequirements({ root: true, database: true, commands: ['ip', 'mkfs.ext4'] });

describe.skipIf(skipReason)(`walking skeleton over real processes${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let stack: Stack;
  let kernelId: string;
  let rootfsId: string;

  async function links(): Promise<string[]> {
    const { stdout } = await stack.netns.exec(['ip', '-o', 'link', 'show']);
    return stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => line.split(':')[1]!.trim().split('@')[0]!);
  }

  async function agentVm(vmId: string): Promise<AgentVm> {
    const response = await stack.agentFetch(`/agent/v1/vms/${vmId}`);
    expect(response.status).toBe(200);
    return (await response.json()) as AgentVm;
  }

  function vmDirs(): string[] {
    const dir = path.join(stack.runDir, 'vms');
    return existsSync(dir) ? readdirSync(dir) : [];
  }

  beforeAll(async () => {
    stack = await startStack();
    writeFakeKernel(path.join(stack.imageRoot, 'kernels/vmlinux'));
    writeEmptyExt4(path.join(stack.imageRoot, 'rootfs/base.ext4'));
    const kernel = await stack.api<Image>('POST', '/v1/images', {
      kind: 'kernel',
      name: 'vmlinux-test',
      hostPath: path.join(stack.imageRoot, 'kernels/vmlinux'),
    });
    expect(kernel.status, JSON.stringify(kernel.body)).toBe(201);
    kernelId = kernel.body.id;
    const rootfs = await stack.api<Image>('POST', '/v1/images', {
      kind: 'rootfs',
      name: 'base',
      hostPath: path.join(stack.imageRoot, 'rootfs/base.ext4'),
    });
    expect(rootfs.status, JSON.stringify(rootfs.body)).toBe(201);
    rootfsId = rootfs.body.id;
  }, 60_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('creates a VM that runs, stops, starts again and is deleted without leaving anything on the host', async () => {
    const linksBefore = await links();
    const created = await stack.api<Vm>('POST', '/v1/vms', {
      name: 'skeleton-1',
      vcpuCount: 1,
      memoryMib: 128,
      kernelImageId: kernelId,
      rootfsImageId: rootfsId,
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const vm = created.body;
    expect(vm.state).toBe('running');
    const stepNames = vm.steps.map((s) => s.name);
    for (const step of ['tap', 'rootfs', 'spawn', 'start']) {
      expect(stepNames).toContain(step);
    }
    for (const step of vm.steps) expect(step.durationMs).toBeGreaterThanOrEqual(0);
    console.log(
      `create took ${vm.totalMs.toFixed(1)} ms: ` + vm.steps.map((s) => `${s.name} ${s.durationMs.toFixed(1)}`).join(', '),
    );

    // The Firecracker API, read through the Agent's proxy, says the guest runs.
    const proxied = await stack.agentFetch(`/agent/v1/vms/${vm.id}/proxy/`);
    expect(proxied.status).toBe(200);
    expect(await proxied.json()).toMatchObject({ state: 'Running', app_name: 'Firecracker' });

    // The guest is configured without boot arguments from the user: Firecracker was given the
    // kernel's ip= argument for the leased address and serves it, with the hostname, by MMDS v2.
    const { ipAddress, gateway } = vm.network!;
    const config = (await (await stack.agentFetch(`/agent/v1/vms/${vm.id}/proxy/vm/config`)).json()) as {
      'boot-source': { boot_args: string };
      'mmds-config': { version: string; network_interfaces: string[] } | null;
    };
    expect(config['boot-source'].boot_args).toContain(` ip=${ipAddress}::${gateway}:`);
    expect(config['mmds-config']).toMatchObject({ version: 'V2', network_interfaces: ['eth0'] });
    const mmds = await stack.agentFetch(`/agent/v1/vms/${vm.id}/proxy/mmds`);
    expect(mmds.status).toBe(200);
    expect(await mmds.json()).toMatchObject({
      latest: { 'meta-data': { 'instance-id': vm.id, hostname: 'skeleton-1', 'local-ipv4': ipAddress } },
    });

    // Real host resources exist: the VMM process, its TAP on the bridge, its own rootfs copy.
    const onHost = await agentVm(vm.id);
    expect(onHost.pid).not.toBeNull();
    expect(isAlive(onHost.pid!)).toBe(true);
    expect(await links()).toContain(onHost.tapName);
    const { stdout: master } = await stack.netns.exec(['ip', '-o', 'link', 'show', onHost.tapName!]);
    expect(master).toContain(`master ${stack.bridge}`);
    const image = statSync(path.join(stack.imageRoot, 'rootfs/base.ext4'));
    const copy = statSync(onHost.rootfsPath!);
    expect(copy.ino).not.toBe(image.ino);
    expect(onHost.rootfsPath!.startsWith(stack.runDir)).toBe(true);

    // Stop: the process and TAP go away, the VM is stopped.
    const stopped = await stack.api<Vm>('POST', `/v1/vms/${vm.id}/stop`);
    expect(stopped.status, JSON.stringify(stopped.body)).toBe(200);
    expect(stopped.body.state).toBe('stopped');
    expect(isAlive(onHost.pid!)).toBe(false);
    expect(await links()).not.toContain(onHost.tapName);

    // Start again from stopped.
    const started = await stack.api<Vm>('POST', `/v1/vms/${vm.id}/start`);
    expect(started.status, JSON.stringify(started.body)).toBe(200);
    expect(started.body.state).toBe('running');
    const again = await agentVm(vm.id);
    expect(isAlive(again.pid!)).toBe(true);

    // Delete: nothing of the VM is left.
    const deleted = await stack.api('DELETE', `/v1/vms/${vm.id}`);
    expect([200, 204]).toContain(deleted.status);
    expect((await stack.api<Problem>('GET', `/v1/vms/${vm.id}`)).status).toBe(404);
    expect(isAlive(again.pid!)).toBe(false);
    // Only the shared bridge may remain: it is the host's, not the VM's.
    const withoutBridge = (names: string[]): string[] => names.filter((name) => name !== stack.bridge);
    expect(withoutBridge(await links())).toEqual(withoutBridge(linksBefore));
    for (const resource of again.resources) {
      if (resource.kind !== 'process' && resource.kind !== 'tap') expect(existsSync(resource.ref), resource.ref).toBe(false);
    }
    expect(vmDirs()).toEqual([]);
    const inventory = (await (await stack.agentFetch(`/agent/v1/inventory`)).json()) as { vms: unknown[] };
    expect(inventory.vms).toEqual([]);
  });

  describe('bad input gets a problem response and leaves the host unchanged', () => {
    async function expectProblem(
      response: { status: number; headers: Headers; body: unknown },
      status: number,
      code: string,
    ): Promise<Problem> {
      expect(response.status, JSON.stringify(response.body)).toBe(status);
      expect(response.headers.get('content-type')).toContain('application/problem+json');
      const problem = response.body as Problem;
      expect(problem.code).toBe(code);
      expect(problem.status).toBe(status);
      expect(problem.correlationId).toBeTruthy();
      expect(vmDirs()).toEqual([]);
      return problem;
    }

    it('malformed JSON', async () => {
      await expectProblem(await stack.api('POST', '/v1/vms', '{"name": "x",'), 400, 'MALFORMED_JSON');
    });

    it('unknown fields and wrong types name the offending fields', async () => {
      const problem = await expectProblem(
        await stack.api('POST', '/v1/vms', {
          name: 'ok-name',
          vcpuCount: 'two',
          memoryMib: 128,
          kernelImageId: kernelId,
          rootfsImageId: rootfsId,
          colour: 'red',
        }),
        400,
        'VALIDATION_FAILED',
      );
      const fields = (problem.errors ?? []).map((e) => e.field).join(' ');
      expect(fields).toContain('vcpuCount');
      expect(fields).toContain('colour');
    });

    it('names with shell metacharacters', async () => {
      await expectProblem(
        await stack.api('POST', '/v1/vms', {
          name: 'x; rm -rf /',
          vcpuCount: 1,
          memoryMib: 128,
          kernelImageId: kernelId,
          rootfsImageId: rootfsId,
        }),
        400,
        'VALIDATION_FAILED',
      );
    });

    it('unknown VM ids', async () => {
      await expectProblem(await stack.api('GET', '/v1/vms/vm_01JAAAAAAAAAAAAAAAAAAAAAAA'), 404, 'VM_NOT_FOUND');
      await expectProblem(await stack.api('DELETE', '/v1/vms/vm_01JAAAAAAAAAAAAAAAAAAAAAAA'), 404, 'VM_NOT_FOUND');
    });

    it('path traversal in image paths', async () => {
      await expectProblem(
        await stack.api('POST', '/v1/images', {
          kind: 'kernel',
          name: 'escape',
          hostPath: path.join(stack.imageRoot, '../../etc/passwd'),
        }),
        403,
        'IMAGE_PATH_FORBIDDEN',
      );
    });

    it('echoes a well-formed x-request-id as the correlation id', async () => {
      const response = await stack.api<Problem>('GET', '/v1/vms/vm_01JAAAAAAAAAAAAAAAAAAAAAAA', undefined, {
        'x-request-id': 'e2e-correlation-0001',
      });
      expect(response.headers.get('x-request-id')).toBe('e2e-correlation-0001');
      expect(response.body.correlationId).toBe('e2e-correlation-0001');
    });
  });
});
