import { existsSync, lstatSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hearth } from '@hearth/sdk';
import { missingRequirements, writeEmptyExt4, writeFakeKernel } from '@hearth/testkit';
import { runCli, type CliRun } from './support/cli.js';
import { startStack, type Stack } from './support/stack.js';

const skipReason = missingRequirements({ root: true, database: true, commands: ['ip', 'mkfs.ext4'] });

describe.skipIf(skipReason)(`the serial console over real processes${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let stack: Stack;
  let configHome: string;
  let hearth: Hearth;
  let images: { kernelImageId: string; rootfsImageId: string };

  /** `hearth …` with `input` piped to its stdin. */
  function cli(args: readonly string[], input: string): Promise<CliRun> {
    return runCli(args, {
      env: { XDG_CONFIG_HOME: configHome, HEARTH_URL: stack.managerUrl, HEARTH_TOKEN: stack.adminToken },
      input,
      timeoutMs: 30_000,
    });
  }

  beforeAll(async () => {
    configHome = mkdtempSync(path.join(os.tmpdir(), 'hearth-console-config-'));
    stack = await startStack();
    hearth = new Hearth({ baseUrl: stack.managerUrl, token: stack.adminToken });
    writeFakeKernel(path.join(stack.imageRoot, 'vmlinux'));
    writeEmptyExt4(path.join(stack.imageRoot, 'base.ext4'));
    const kernel = await hearth.images.register({
      name: 'vmlinux',
      kind: 'kernel',
      hostPath: path.join(stack.imageRoot, 'vmlinux'),
    });
    const rootfs = await hearth.images.register({
      name: 'base',
      kind: 'rootfs',
      hostPath: path.join(stack.imageRoot, 'base.ext4'),
    });
    images = { kernelImageId: kernel.id, rootfsImageId: rootfs.id };
  }, 60_000);

  afterAll(async () => {
    await stack?.stop();
    if (configHome !== undefined) rmSync(configHome, { recursive: true, force: true });
  });

  it('types a command into the guest through hearth vm console, sees its answer, and leaves no FIFO after delete', async () => {
    const vm = await hearth.vms.create({ name: 'shell', ...images, vcpuCount: 1, memoryMib: 128 });
    const fifo = path.join(stack.runDir, 'vms', vm.id, 'console.fifo');
    expect(lstatSync(fifo).isFIFO()).toBe(true);

    const run = await cli(['vm', 'console', 'shell', '--until', 'hello-from-e2e\r\nroot@'], 'root\recho hello-from-e2e\r');

    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('login: root\r\n');
    expect(run.stdout).toContain('echo hello-from-e2e\r\nhello-from-e2e\r\nroot@');
    await hearth.vms.delete(vm.id);
    expect(existsSync(fifo)).toBe(false);
    expect(existsSync(path.join(stack.runDir, 'vms', vm.id))).toBe(false);
  });

  it('attaches through the SDK, and the session ends with vm_stopped when the VM stops', async () => {
    const vm = await hearth.vms.create({ name: 'sdk', ...images, vcpuCount: 1, memoryMib: 128 });
    const session = await hearth.vms.attachConsole(vm.id, { backlogBytes: 4096 });
    let output = '';
    session.onData((bytes) => (output += Buffer.from(bytes).toString('latin1')));
    await expect.poll(() => output).toContain('login: ');

    await hearth.vms.stop(vm.id);

    expect(await session.closed).toMatchObject({ reason: 'vm_stopped' });
    await hearth.vms.delete(vm.id);
  });
});
