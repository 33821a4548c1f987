import { everyProject } from '../../domain/access.js';
import { describe, expect, it } from 'vitest';
import { fakeExt4Bytes, fakeKernelBytes } from '../../adapters/fake/fake-image-inspector.js';
import { createWorld } from '../../testing/world.js';
import { createVm } from './create-vm.js';
import { deleteImage, listImages } from './image-queries.js';
import { registerImage } from './register-image.js';
import { codeOf } from '../../testing/rejections.js';

describe('registerImage', () => {
  it('records the size and SHA-256 the Manager computed', async () => {
    const world = createWorld();
    world.inspector.put('k/vmlinux', fakeKernelBytes());
    const image = await registerImage(world.deps, {
      project: 'default',
      kind: 'kernel',
      name: 'vmlinux-6.1',
      hostPath: 'k/vmlinux',
    });
    expect(image).toMatchObject({ kind: 'kernel', hostPath: '/srv/images/k/vmlinux', sizeBytes: 4096 });
    expect(image.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('refuses a rootfs that is not ext4', async () => {
    const world = createWorld();
    world.inspector.put('disk.img', fakeKernelBytes());
    expect(
      await codeOf(registerImage(world.deps, { project: 'default', kind: 'rootfs', name: 'disk', hostPath: 'disk.img' })),
    ).toBe('IMAGE_FORMAT_INVALID');
  });

  it('refuses a second image of the same kind with the same name', async () => {
    const world = createWorld();
    world.inspector.put('a.ext4', fakeExt4Bytes());
    await registerImage(world.deps, { project: 'default', kind: 'rootfs', name: 'base', hostPath: 'a.ext4' });
    expect(
      await codeOf(registerImage(world.deps, { project: 'default', kind: 'rootfs', name: 'base', hostPath: 'a.ext4' })),
    ).toBe('IMAGE_NAME_TAKEN');
  });

  it('allows the same name for a kernel and a rootfs', async () => {
    const world = createWorld();
    world.inspector.put('k', fakeKernelBytes());
    world.inspector.put('r', fakeExt4Bytes());
    await registerImage(world.deps, { project: 'default', kind: 'kernel', name: 'base', hostPath: 'k' });
    await registerImage(world.deps, { project: 'default', kind: 'rootfs', name: 'base', hostPath: 'r' });
    expect((await listImages(world.deps, { projects: everyProject, nameContains: 'BAS' })).items).toHaveLength(2);
  });
});

describe('deleteImage', () => {
  it('refuses to delete an image a VM uses', async () => {
    const world = createWorld();
    await world.addHost();
    const { kernel, rootfs } = await world.addImages();
    await createVm(world.deps, {
      project: 'default',
      name: 'a',
      vcpuCount: 1,
      memoryMib: 128,
      kernelImageId: kernel.id,
      rootfsImageId: rootfs.id,
    });
    expect(await codeOf(deleteImage(world.deps, kernel.id, everyProject))).toBe('IMAGE_IN_USE');
  });

  it('rejects an unknown image with IMAGE_NOT_FOUND', async () => {
    const world = createWorld();
    expect(await codeOf(deleteImage(world.deps, 'img_01J0000000000000000000ZZZZ' as never, everyProject))).toBe(
      'IMAGE_NOT_FOUND',
    );
  });
});
