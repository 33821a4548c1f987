import type { HttpServer } from '@hearth/http-server';
import { fakeExt4Bytes, fakeKernelBytes, type FakeImageInspector } from '../adapters/fake/fake-image-inspector.js';
import { agentIdFor, hostCapacity, hostFacts } from './world.js';

/**
 * The body of `POST /v1/hosts/register` from the Agent of identity `agentIdFor(1)`, host `node-a`;
 * `overrides` replace whole fields.
 */
export function hostRegistration(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'node-a',
    agentId: agentIdFor(1),
    addr: 'https://10.0.0.1:9090',
    capacity: hostCapacity(),
    facts: hostFacts(),
    ...overrides,
  };
}

/**
 * Puts a fake kernel and a fake ext4 rootfs where `inspector` looks, registers them through the API
 * (as `names.kernel` and `names.rootfs`), and answers their ids, as `POST /v1/vms` takes them.
 */
export async function registerFakeImages(
  app: HttpServer,
  inspector: FakeImageInspector,
  names: { readonly kernel: string; readonly rootfs: string } = { kernel: 'vmlinux', rootfs: 'base' },
): Promise<{ kernelImageId: string; rootfsImageId: string }> {
  inspector.put('vmlinux', fakeKernelBytes());
  inspector.put('rootfs.ext4', fakeExt4Bytes());
  const kernel = await app.inject({
    method: 'POST',
    url: '/v1/images',
    payload: { kind: 'kernel', name: names.kernel, hostPath: 'vmlinux' },
  });
  const rootfs = await app.inject({
    method: 'POST',
    url: '/v1/images',
    payload: { kind: 'rootfs', name: names.rootfs, hostPath: 'rootfs.ext4' },
  });
  if (kernel.statusCode !== 201 || rootfs.statusCode !== 201) {
    throw new Error(`the fake images were not registered: ${kernel.body} ${rootfs.body}`);
  }
  return { kernelImageId: kernel.json<{ id: string }>().id, rootfsImageId: rootfs.json<{ id: string }>().id };
}
