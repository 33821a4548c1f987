import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HttpServer } from '@hearth/http-server';
import { isRoot } from '@hearth/testkit';
import { NodeImageInspector } from '../adapters/fs/node-image-inspector.js';
import { buildTestApp } from '../testing/test-app.js';
import { createWorld } from '../testing/world.js';

// A real image root in a temporary directory, with a secret file beside it and links pointing out.
let base: string;
let root: string;
let app: HttpServer;

function kernelBytes(): Buffer {
  const bytes = Buffer.alloc(8192, 7);
  bytes.set([0x7f, 0x45, 0x4c, 0x46], 0);
  return bytes;
}

function ext4Bytes(): Buffer {
  const bytes = Buffer.alloc(4096);
  bytes.set([0x53, 0xef], 1080);
  return bytes;
}

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'hearth-images-'));
  root = join(base, 'images');
  await mkdir(join(root, 'kernels'), { recursive: true });
  await writeFile(join(base, 'secret.ext4'), ext4Bytes());
  await mkdir(join(base, 'images-evil'));
  await writeFile(join(base, 'images-evil', 'vmlinux'), kernelBytes());
  await writeFile(join(root, 'kernels', 'vmlinux'), kernelBytes());
  await writeFile(join(root, 'rootfs.ext4'), ext4Bytes());
  await writeFile(join(root, 'empty'), Buffer.alloc(0));
  await symlink(join(base, 'secret.ext4'), join(root, 'escape.ext4'));
  await symlink(base, join(root, 'up'));
  await symlink(join(root, 'rootfs.ext4'), join(root, 'inside-link.ext4'));
  const world = createWorld();
  app = await buildTestApp({ ...world.deps, inspector: new NodeImageInspector(root) });
});

afterAll(async () => {
  await app?.close();
  if (base !== undefined) await rm(base, { recursive: true, force: true });
});

async function register(kind: string, name: string, hostPath: string) {
  const response = await app.inject({ method: 'POST', url: '/v1/images', payload: { kind, name, hostPath } });
  return { status: response.statusCode, body: response.json<Record<string, unknown>>() };
}

describe('image paths on a real file system', () => {
  it('registers a kernel by a path relative to the root, with the SHA-256 and size of its content', async () => {
    const { status, body } = await register('kernel', 'vmlinux', 'kernels/vmlinux');
    expect(status).toBe(201);
    expect(body).toMatchObject({
      hostPath: join(root, 'kernels', 'vmlinux'),
      sizeBytes: 8192,
      sha256: createHash('sha256').update(kernelBytes()).digest('hex'),
    });
  });

  it('registers a rootfs by an absolute path inside the root', async () => {
    expect((await register('rootfs', 'abs', join(root, 'rootfs.ext4'))).status).toBe(201);
  });

  it('follows a symlink that stays inside the root and records the real path', async () => {
    const { status, body } = await register('rootfs', 'linked', 'inside-link.ext4');
    expect(status).toBe(201);
    expect(body['hostPath']).toBe(join(root, 'rootfs.ext4'));
  });

  it.each([
    ['a ../ escape', '../secret.ext4'],
    ['a ../ escape in the middle', 'kernels/../../secret.ext4'],
    ['an absolute path outside the root', '/etc/passwd'],
    ['a sibling directory sharing the prefix', '../images-evil/vmlinux'],
    ['a symlink to a file outside', 'escape.ext4'],
    ['a symlinked directory outside', 'up/secret.ext4'],
  ])('refuses %s with 403 IMAGE_PATH_FORBIDDEN', async (_, hostPath) => {
    const { status, body } = await register('rootfs', 'escape', hostPath);
    expect(status).toBe(403);
    expect(body).toMatchObject({ code: 'IMAGE_PATH_FORBIDDEN', correlationId: expect.any(String) as string });
  });

  it('answers a missing file with 400 IMAGE_FILE_NOT_FOUND', async () => {
    const { status, body } = await register('rootfs', 'missing', 'nope.ext4');
    expect(status).toBe(400);
    expect(body['code']).toBe('IMAGE_FILE_NOT_FOUND');
  });

  it('answers a directory with 400 IMAGE_NOT_REGULAR_FILE', async () => {
    expect((await register('rootfs', 'dir', 'kernels')).body['code']).toBe('IMAGE_NOT_REGULAR_FILE');
  });

  it.skipIf(!isRoot)('answers a device with 400 IMAGE_NOT_REGULAR_FILE (creating one needs root)', async () => {
    execFileSync('mknod', [join(root, 'null-device'), 'c', '1', '3']);
    const { status, body } = await register('rootfs', 'device', 'null-device');
    expect(status).toBe(400);
    expect(body['code']).toBe('IMAGE_NOT_REGULAR_FILE');
  });

  it('answers an empty file registered as a kernel with 400 IMAGE_FORMAT_INVALID', async () => {
    expect((await register('kernel', 'empty', 'empty')).body['code']).toBe('IMAGE_FORMAT_INVALID');
  });
});
