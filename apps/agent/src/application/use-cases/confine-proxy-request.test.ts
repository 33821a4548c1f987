import { describe, expect, it } from 'vitest';
import { createFakeAgent, fakeKernelPath, fakeRootfsPath, type FakeAgent } from '../../adapters/fake/fake-agent-context.js';
import { appErrorOf, testVmId, jsonPut as put } from '../../adapters/fake/fake-fixtures.js';
import { vmPaths } from '../../domain/vm-paths.js';
import type { VmRecord } from '../../domain/vm-record.js';
import { confineProxyRequest } from './confine-proxy-request.js';
import { runSpawnStep, runTapStep } from './vm-steps.js';

const vmDirectory = vmPaths('/srv/fc', testVmId).directory;

async function spawnedVm(): Promise<{ agent: FakeAgent; record: VmRecord }> {
  const agent = createFakeAgent();
  await runTapStep(agent.context, testVmId);
  await runSpawnStep(agent.context, testVmId);
  const record = await agent.records.get(testVmId);
  if (record === undefined) throw new Error('no record');
  return { agent, record };
}

function bodyOf(confined: { body: Buffer | undefined }): unknown {
  return JSON.parse(confined.body?.toString('utf8') ?? 'null');
}

describe('confineProxyRequest', () => {
  it('accepts a file to create in the VM directory and reports it as created', async () => {
    const { agent, record } = await spawnedVm();

    const confined = await confineProxyRequest(
      agent.context,
      record,
      put('snapshot/create', { snapshot_path: `${vmDirectory}/snap.state`, mem_file_path: `${vmDirectory}/snap.mem` }),
    );

    expect(confined.createdFiles).toEqual([`${vmDirectory}/snap.state`, `${vmDirectory}/snap.mem`]);
    expect(bodyOf(confined)).toEqual({ snapshot_path: `${vmDirectory}/snap.state`, mem_file_path: `${vmDirectory}/snap.mem` });
  });

  it('refuses an absolute path outside the VM directory with PROXY_PATH_FORBIDDEN, quoting only what was sent', async () => {
    const { agent, record } = await spawnedVm();

    const error = await appErrorOf(confineProxyRequest(agent.context, record, put('logger', { log_path: '/etc/hearth-owned' })));

    expect(error.code).toBe('PROXY_PATH_FORBIDDEN');
    expect(error.details).toEqual({ field: '/log_path', path: '/etc/hearth-owned' });
    expect(error.message).not.toContain('/srv/fc');
  });

  it('refuses a path that climbs out of the VM directory with ..', async () => {
    const { agent, record } = await spawnedVm();

    const error = await appErrorOf(
      confineProxyRequest(agent.context, record, put('logger', { log_path: `${vmDirectory}/../../../../etc/x.log` })),
    );

    expect(error.code).toBe('PROXY_PATH_FORBIDDEN');
  });

  it('refuses a relative path, whose meaning depends on the VMM working directory', async () => {
    const { agent, record } = await spawnedVm();

    const error = await appErrorOf(confineProxyRequest(agent.context, record, put('logger', { log_path: 'x.log' })));

    expect(error.code).toBe('PROXY_PATH_FORBIDDEN');
  });

  it('refuses a symlink inside the VM directory that leads outside', async () => {
    const { agent, record } = await spawnedVm();
    agent.files.addFile('/etc/shadow', 'root:x');
    agent.files.symlinks.set(`${vmDirectory}/disk.img`, '/etc/shadow');

    const error = await appErrorOf(
      confineProxyRequest(
        agent.context,
        record,
        put('drives/data', { drive_id: 'data', path_on_host: `${vmDirectory}/disk.img`, is_root_device: false }),
      ),
    );

    expect(error.code).toBe('PROXY_PATH_FORBIDDEN');
  });

  it('refuses a file to create below a directory symlink that leads outside', async () => {
    const { agent, record } = await spawnedVm();
    agent.files.symlinks.set(`${vmDirectory}/out`, '/etc');

    const error = await appErrorOf(
      confineProxyRequest(
        agent.context,
        record,
        put('snapshot/create', { snapshot_path: `${vmDirectory}/out/cron.d`, mem_file_path: `${vmDirectory}/m` }),
      ),
    );

    expect(error.code).toBe('PROXY_PATH_FORBIDDEN');
    expect(error.details).toEqual({ field: '/snapshot_path', path: `${vmDirectory}/out/cron.d` });
  });

  it('refuses a dangling symlink, which creating the file would follow', async () => {
    const { agent, record } = await spawnedVm();
    agent.files.symlinks.set(`${vmDirectory}/new.log`, '/etc/new-file');

    const error = await appErrorOf(
      confineProxyRequest(agent.context, record, put('logger', { log_path: `${vmDirectory}/new.log` })),
    );

    expect(error.code).toBe('PROXY_PATH_FORBIDDEN');
  });

  it("refuses to create or truncate the Agent's own files in the VM directory", async () => {
    const { agent, record } = await spawnedVm();

    for (const name of ['record.json', 'record.json.alt', 'fc.sock', 'stdout.log', 'rootfs.ext4']) {
      const error = await appErrorOf(
        confineProxyRequest(
          agent.context,
          record,
          put('snapshot/create', { snapshot_path: `${vmDirectory}/${name}`, mem_file_path: `${vmDirectory}/m` }),
        ),
      );
      expect(error.code, name).toBe('PROXY_PATH_FORBIDDEN');
    }
  });

  it('lets the Firecracker log be written where the Agent keeps it, without recording it again', async () => {
    const { agent, record } = await spawnedVm();

    const confined = await confineProxyRequest(
      agent.context,
      record,
      put('logger', { log_path: `${vmDirectory}/firecracker.log` }),
    );

    expect(confined.createdFiles).toEqual([]);
  });

  it('takes a read-only drive from the image root but not a writable one', async () => {
    const { agent, record } = await spawnedVm();
    const drive = (isReadOnly: boolean): unknown => ({
      drive_id: 'data',
      path_on_host: fakeRootfsPath,
      is_root_device: false,
      is_read_only: isReadOnly,
    });

    const readOnly = await confineProxyRequest(agent.context, record, put('drives/data', drive(true)));
    const writable = await appErrorOf(confineProxyRequest(agent.context, record, put('drives/data', drive(false))));

    expect(bodyOf(readOnly)).toMatchObject({ path_on_host: fakeRootfsPath });
    expect(writable.code).toBe('PROXY_PATH_FORBIDDEN');
  });

  it('reads a kernel from the image root, through the real path of a symlink', async () => {
    const { agent, record } = await spawnedVm();
    agent.files.symlinks.set('/srv/images/current', fakeKernelPath);

    const confined = await confineProxyRequest(
      agent.context,
      record,
      put('boot-source', { kernel_image_path: '/srv/images/current' }),
    );

    expect(bodyOf(confined)).toEqual({ kernel_image_path: fakeKernelPath });
  });

  it('refuses a TAP device that is not the VM own', async () => {
    const { agent, record } = await spawnedVm();

    const error = await appErrorOf(
      confineProxyRequest(agent.context, record, put('network-interfaces/eth1', { iface_id: 'eth1', host_dev_name: 'eth0' })),
    );

    expect(error.code).toBe('PROXY_HOST_DEVICE_FORBIDDEN');
  });

  it('answers MALFORMED_JSON for a body naming host paths that is not JSON', async () => {
    const { agent, record } = await spawnedVm();
    const request = { ...put('logger', {}), body: Buffer.from('{"log_path": ') };

    expect((await appErrorOf(confineProxyRequest(agent.context, record, request))).code).toBe('MALFORMED_JSON');
  });
});
