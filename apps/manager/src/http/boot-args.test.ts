import { everyProject } from '../domain/access.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bootArgsMaxLength, guestIpArgumentMaxLength, kernelCommandLine } from '@hearth/contracts';
import type { HttpServer } from '@hearth/http-server';
import { createVm } from '../application/use-cases/create-vm.js';
import { buildTestApp } from '../testing/test-app.js';
import { createWorld, type World } from '../testing/world.js';

let world: World;
let app: HttpServer;

beforeEach(async () => {
  world = createWorld();
  app = await buildTestApp(world.deps);
});

afterEach(async () => {
  await app.close();
});

async function createWithBootArgs(bootArgs: string): Promise<{ statusCode: number; json(): unknown }> {
  await world.addHost();
  const { kernel, rootfs } = await world.addImages();
  return app.inject({
    method: 'POST',
    url: '/v1/vms',
    payload: { name: 'web-1', vcpuCount: 1, memoryMib: 256, kernelImageId: kernel.id, rootfsImageId: rootfs.id, bootArgs },
  });
}

/** Boot arguments of exactly `length` characters. */
const argsOf = (length: number): string => 'console=ttyS0 '.padEnd(length, 'x');

describe('boot arguments against the kernel command line limit', () => {
  it("leaves room for the guest's ip= argument, the root device, pci=off and two device declarations in 2048 bytes with the NUL", () => {
    const worstAppended =
      ' '.repeat(guestIpArgumentMaxLength) +
      kernelCommandLine.appended.join('') +
      ' virtio_mmio.device=4K@0xffffffffffffffff:4294967295'.repeat(2);
    expect(bootArgsMaxLength + worstAppended.length + 1).toBeLessThanOrEqual(2048);
    expect(bootArgsMaxLength).toBeGreaterThan(1700);
  });

  it('refuses at admission boot arguments that fit alone but overflow once the host appends its part', async () => {
    const response = await createWithBootArgs(argsOf(2000));
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ code: 'VALIDATION_FAILED', errors: [{ field: 'body/bootArgs' }] });
    expect(await world.repos.vms.list({ projects: everyProject }, { limit: 10 })).toMatchObject({ items: [] });
  });

  it('is refused by createVm itself, whatever the caller', async () => {
    await world.addHost();
    const { kernel, rootfs } = await world.addImages();
    const input = {
      project: 'default',
      name: 'web-1',
      vcpuCount: 1,
      memoryMib: 256,
      kernelImageId: kernel.id,
      rootfsImageId: rootfs.id,
    };
    await expect(createVm(world.deps, { ...input, bootArgs: argsOf(bootArgsMaxLength + 1) })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      errors: [{ field: 'body/bootArgs' }],
    });
  });

  it('accepts the longest boot arguments that fit', async () => {
    const response = await createWithBootArgs(argsOf(bootArgsMaxLength));
    expect(response.statusCode).toBe(201);
    expect(response.json()).toMatchObject({ bootArgs: argsOf(bootArgsMaxLength) });
  });
});
