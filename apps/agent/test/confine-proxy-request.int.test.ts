import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFakeAgent } from '../src/adapters/fake/fake-agent-context.js';
import { appErrorOf, testVmId, jsonPut as put } from '../src/adapters/fake/fake-fixtures.js';
import { ExecFileCommandRunner } from '../src/adapters/linux/exec-file-command-runner.js';
import { LinuxHostFiles } from '../src/adapters/linux/linux-host-files.js';
import type { AgentContext } from '../src/application/agent-context.js';
import { confineProxyRequest } from '../src/application/use-cases/confine-proxy-request.js';
import { vmPaths } from '../src/domain/vm-paths.js';
import { newVmRecord, type VmRecord } from '../src/domain/vm-record.js';
import { makeTempDir } from './support.js';

describe('confineProxyRequest on the real filesystem', () => {
  let directory: string;
  let outside: string;
  let vmDirectory: string;
  let imageRoot: string;
  let context: AgentContext;
  let record: VmRecord;

  beforeAll(async () => {
    directory = await makeTempDir();
    const runDir = join(directory, 'run');
    outside = join(directory, 'outside');
    imageRoot = join(directory, 'images');
    vmDirectory = vmPaths(runDir, testVmId).directory;
    await Promise.all([mkdir(vmDirectory, { recursive: true }), mkdir(outside), mkdir(imageRoot)]);
    await writeFile(join(outside, 'secret'), 'root only', { mode: 0o600 });
    await writeFile(join(imageRoot, 'vmlinux'), 'ELF');
    await symlink(outside, join(vmDirectory, 'escape'));
    await symlink(join(outside, 'secret'), join(vmDirectory, 'disk.img'));
    await symlink(join(outside, 'not-yet'), join(vmDirectory, 'dangling.log'));
    await symlink(join(imageRoot, 'vmlinux'), join(vmDirectory, 'kernel'));
    context = {
      ...createFakeAgent().context,
      files: new LinuxHostFiles(new ExecFileCommandRunner()),
      settings: { ...createFakeAgent().context.settings, runDir, imageRoot },
    };
    record = newVmRecord(testVmId, vmDirectory, new Date());
  });

  afterAll(async () => {
    if (directory !== undefined) await rm(directory, { recursive: true, force: true });
  });

  const forbiddenCode = async (path: string, body: unknown): Promise<string> =>
    (await appErrorOf(confineProxyRequest(context, record, put(path, body)))).code;

  it('accepts a file still to be created in the VM directory, named by its real path', async () => {
    const confined = await confineProxyRequest(context, record, put('logger', { log_path: join(vmDirectory, 'extra.log') }));

    expect(confined.createdFiles).toEqual([join(vmDirectory, 'extra.log')]);
  });

  it('refuses an absolute path outside', async () => {
    expect(await forbiddenCode('logger', { log_path: join(outside, 'new.log') })).toBe('PROXY_PATH_FORBIDDEN');
  });

  it('refuses a relative path', async () => {
    expect(await forbiddenCode('logger', { log_path: 'new.log' })).toBe('PROXY_PATH_FORBIDDEN');
  });

  it('refuses .. that climbs out of the VM directory', async () => {
    expect(await forbiddenCode('logger', { log_path: `${vmDirectory}/../../../outside/new.log` })).toBe('PROXY_PATH_FORBIDDEN');
  });

  it('refuses .. after a symlink, resolved physically as the kernel does', async () => {
    // Lexically this stays in the VM directory; physically it is `outside/..`, the temp directory.
    expect(await forbiddenCode('logger', { log_path: `${vmDirectory}/escape/../x.log` })).toBe('PROXY_PATH_FORBIDDEN');
  });

  it('refuses a file to create below a directory symlink leading outside', async () => {
    expect(await forbiddenCode('logger', { log_path: join(vmDirectory, 'escape', 'new.log') })).toBe('PROXY_PATH_FORBIDDEN');
  });

  it('refuses a symlinked disk leading outside', async () => {
    expect(
      await forbiddenCode('drives/data', {
        drive_id: 'data',
        path_on_host: join(vmDirectory, 'disk.img'),
        is_root_device: false,
      }),
    ).toBe('PROXY_PATH_FORBIDDEN');
  });

  it('refuses a dangling symlink, which O_CREAT would follow', async () => {
    expect(await forbiddenCode('logger', { log_path: join(vmDirectory, 'dangling.log') })).toBe('PROXY_PATH_FORBIDDEN');
  });

  it('refuses a path whose directory does not exist', async () => {
    expect(await forbiddenCode('logger', { log_path: join(vmDirectory, 'missing', 'x.log') })).toBe('PROXY_PATH_FORBIDDEN');
  });

  it('reads a kernel through a symlink into the image root, forwarding its real path', async () => {
    const confined = await confineProxyRequest(
      context,
      record,
      put('boot-source', { kernel_image_path: join(vmDirectory, 'kernel') }),
    );

    expect(JSON.parse(confined.body?.toString('utf8') ?? '{}')).toEqual({ kernel_image_path: join(imageRoot, 'vmlinux') });
  });
});
