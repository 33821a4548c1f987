import { describe, expect, it } from 'vitest';
import { createFakeAgent } from '../../adapters/fake/fake-agent-context.js';
import { applyVm } from './apply-vm.js';
import { proxyToFirecracker } from './proxy-to-firecracker.js';
import { appErrorOf, testSpec, testVmId, jsonPut as put } from '../../adapters/fake/fake-fixtures.js';
import { vmPaths } from '../../domain/vm-paths.js';
import { proxyFilesOf } from '../../domain/vm-record.js';
import { deleteVm } from './delete-vm.js';
import { describeVm } from './describe-vm.js';
import type { FirecrackerApi, ForwardRequest } from '../ports/firecracker-api.js';
import { runSpawnStep, runTapStep } from './vm-steps.js';

const vmDirectory = vmPaths('/srv/fc', testVmId).directory;

const getRoot = { method: 'GET', path: '', contentType: undefined, body: undefined, correlationId: 'corr-12345678' };

describe('proxyToFirecracker', () => {
  it('forwards an allowed request to the VM socket and returns the answer as is', async () => {
    const agent = createFakeAgent();
    await applyVm(agent.context, testVmId, testSpec);

    const response = await proxyToFirecracker(agent.context, testVmId, getRoot);

    expect(response.statusCode).toBe(200);
    expect(JSON.parse(response.body.toString('utf8'))).toMatchObject({ state: 'Running' });
    expect(agent.firecracker.forwarded.at(-1)?.correlationId).toBe('corr-12345678');
  });

  it('rejects a path outside the allow-list with PROXY_PATH_NOT_ALLOWED', async () => {
    const agent = createFakeAgent();
    await applyVm(agent.context, testVmId, testSpec);

    const error = await appErrorOf(
      proxyToFirecracker(agent.context, testVmId, { ...getRoot, method: 'PUT', path: 'cpu-config' }),
    );

    expect(error.code).toBe('PROXY_PATH_NOT_ALLOWED');
  });

  it('answers VM_NOT_FOUND for an unknown VM', async () => {
    const agent = createFakeAgent();

    expect((await appErrorOf(proxyToFirecracker(agent.context, testVmId, getRoot))).code).toBe('VM_NOT_FOUND');
  });

  it('answers VMM_NOT_RUNNING when the VMM has exited', async () => {
    const agent = createFakeAgent();
    await applyVm(agent.context, testVmId, testSpec);
    for (const process of agent.vmm.liveProcesses) process.isAlive = false;

    expect((await appErrorOf(proxyToFirecracker(agent.context, testVmId, getRoot))).code).toBe('VMM_NOT_RUNNING');
  });

  it('refuses to override what the Agent configured with PROXY_OVERRIDES_AGENT_CONFIG, forwarding nothing', async () => {
    const agent = createFakeAgent();
    await applyVm(agent.context, testVmId, testSpec);
    const before = agent.firecracker.forwarded.length;

    for (const [path, body] of [
      ['logger', { log_path: `${vmDirectory}/other.log` }],
      ['metrics', { metrics_path: `${vmDirectory}/other.metrics` }],
      ['boot-source', { kernel_image_path: '/srv/images/vmlinux' }],
      ['machine-config', { vcpu_count: 2, mem_size_mib: 256 }],
      ['drives/rootfs', { drive_id: 'rootfs', path_on_host: '/etc/shadow', is_root_device: true }],
      ['network-interfaces/eth0', { iface_id: 'eth0', host_dev_name: 'fcother' }],
    ] as const) {
      const error = await appErrorOf(proxyToFirecracker(agent.context, testVmId, put(path, body)));
      expect(error.code, path).toBe('PROXY_OVERRIDES_AGENT_CONFIG');
    }
    expect(agent.firecracker.forwarded.length).toBe(before);
  });

  it('refuses a logger path outside the VM directory on a VMM the Agent has not configured', async () => {
    const agent = createFakeAgent();
    await runSpawnStep(agent.context, testVmId);

    const error = await appErrorOf(
      proxyToFirecracker(agent.context, testVmId, put('logger', { log_path: '/var/lib/root-owned.log' })),
    );

    expect(error.code).toBe('PROXY_PATH_FORBIDDEN');
    expect(agent.firecracker.forwarded).toEqual([]);
  });

  it('refuses to attach a host file outside the VM directory and image root as a drive', async () => {
    const agent = createFakeAgent();
    agent.files.addFile('/etc/shadow', 'root:x');
    await runTapStep(agent.context, testVmId);
    await runSpawnStep(agent.context, testVmId);

    const error = await appErrorOf(
      proxyToFirecracker(
        agent.context,
        testVmId,
        put('drives/rootfs', { drive_id: 'rootfs', path_on_host: '/etc/shadow', is_root_device: true, is_read_only: true }),
      ),
    );

    expect(error.code).toBe('PROXY_PATH_FORBIDDEN');
    expect(agent.firecracker.forwarded).toEqual([]);
  });

  it('records the snapshot files a proxied request creates before forwarding it, reports them and removes them on delete', async () => {
    const agent = createFakeAgent();
    await applyVm(agent.context, testVmId, testSpec);
    const recordedAtForward: (readonly string[])[] = [];
    const firecracker: FirecrackerApi = {
      client: (socketPath) => {
        const client = agent.firecracker.client(socketPath);
        return Object.assign(Object.create(client) as typeof client, {
          forward: async (request: ForwardRequest) => {
            const record = await agent.records.get(testVmId);
            recordedAtForward.push(record === undefined ? [] : proxyFilesOf(record));
            // What Firecracker does: both files are created.
            agent.files.addFile(`${vmDirectory}/snap.state`, 'state');
            agent.files.addFile(`${vmDirectory}/snap.mem`, 'mem');
            return client.forward(request);
          },
        });
      },
      release: (socketPath) => agent.firecracker.release(socketPath),
      close: () => agent.firecracker.close(),
    };
    const context = { ...agent.context, firecracker };
    const snapshot = { snapshot_path: `${vmDirectory}/snap.state`, mem_file_path: `${vmDirectory}/snap.mem` };

    const response = await proxyToFirecracker(context, testVmId, put('snapshot/create', snapshot));

    expect(response.statusCode).toBe(204);
    expect(recordedAtForward).toEqual([[`${vmDirectory}/snap.state`, `${vmDirectory}/snap.mem`]]);
    const described = await describeVm(agent.context, testVmId);
    expect(described.resources).toEqual(
      expect.arrayContaining([
        { kind: 'file', ref: `${vmDirectory}/snap.state`, vmId: testVmId },
        { kind: 'file', ref: `${vmDirectory}/snap.mem`, vmId: testVmId },
      ]),
    );

    const deleted = await deleteVm(agent.context, testVmId);

    expect(deleted.removed.filter((resource) => resource.kind === 'file').map((resource) => resource.ref)).toEqual([
      `${vmDirectory}/snap.state`,
      `${vmDirectory}/snap.mem`,
    ]);
    expect(agent.files.pathsUnder(vmDirectory)).toEqual([]);
  });

  it('forgets a recorded file that Firecracker did not create', async () => {
    const agent = createFakeAgent();
    await applyVm(agent.context, testVmId, testSpec);

    await proxyToFirecracker(
      agent.context,
      testVmId,
      put('snapshot/create', { snapshot_path: `${vmDirectory}/snap.state`, mem_file_path: `${vmDirectory}/snap.mem` }),
    );

    const record = await agent.records.get(testVmId);
    expect(agent.records.history.some((saved) => proxyFilesOf(saved).length === 2)).toBe(true);
    expect(record === undefined ? undefined : proxyFilesOf(record)).toEqual([]);
  });
});
