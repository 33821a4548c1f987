import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '@hearth/errors';
import { startSymlinkSwap, type SymlinkSwap } from '@hearth/testkit';
import { describeImageInspectorContract } from '../../testing/image-inspector-contract.js';
import { NodeImageInspector } from './node-image-inspector.js';

describeImageInspectorContract('file system', async () => {
  const base = await realpath(await mkdtemp(join(tmpdir(), 'hearth-inspector-')));
  const root = join(base, 'root');
  await mkdir(root);
  await writeFile(join(base, 'outside.img'), 'outside');
  return {
    inspector: new NodeImageInspector(root),
    root,
    put: async (path, content) => {
      await mkdir(dirname(join(root, path)), { recursive: true });
      await writeFile(join(root, path), content);
    },
    putFifo: async (path) => {
      await mkdir(dirname(join(root, path)), { recursive: true });
      execFileSync('mkfifo', [join(root, path)]);
    },
    close: () => rm(base, { recursive: true, force: true }),
  };
});

describe('NodeImageInspector while a symlink to a file outside the root is swapped in and out', () => {
  let base: string;
  let swap: SymlinkSwap | undefined;

  afterEach(async () => {
    await swap?.stop();
    await rm(base, { recursive: true, force: true });
  });

  it('never reads the outside file', async () => {
    base = await realpath(await mkdtemp(join(tmpdir(), 'hearth-inspector-race-')));
    const root = join(base, 'root');
    await mkdir(root);
    const secret = join(base, 'secret');
    await writeFile(secret, 'root-only secret', { mode: 0o600 });
    const image = join(root, 'rootfs.ext4');
    await writeFile(image, 'good image');
    swap = startSymlinkSwap(image, secret, 'good image');
    const inspector = new NodeImageInspector(root);
    const secretSha256 = createHash('sha256').update('root-only secret').digest('hex');

    const outcomes: string[] = [];
    for (let i = 0; i < 60; i += 1) {
      try {
        const file = await inspector.inspect('rootfs.ext4');
        outcomes.push(file.sha256 === secretSha256 || Buffer.from(file.head).toString().includes('secret') ? 'leaked' : 'good');
      } catch (error) {
        outcomes.push(error instanceof AppError ? error.code : 'thrown');
      }
    }

    expect(swap.isRunning()).toBe(true);
    expect(outcomes).not.toContain('leaked');
    expect(outcomes).not.toContain('thrown');
  });
});

describe('NodeImageInspector errors', () => {
  let base: string;
  beforeEach(async () => {
    base = await realpath(await mkdtemp(join(tmpdir(), 'hearth-inspector-')));
    await mkdir(join(base, 'root'));
  });
  afterEach(() => rm(base, { recursive: true, force: true }));

  const failure = async (inspector: NodeImageInspector, hostPath: string): Promise<AppError> => {
    const error = await inspector.inspect(hostPath).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(AppError);
    return error as AppError;
  };

  it('names the image root when it does not exist', async () => {
    const error = await failure(new NodeImageInspector(join(base, 'missing')), 'vmlinux');
    expect(error.code).toBe('IMAGE_FILE_NOT_FOUND');
    expect(error.message).toContain(join(base, 'missing'));
  });

  it('names the image root when the path is outside it', async () => {
    const error = await failure(new NodeImageInspector(join(base, 'root')), '/etc/hostname');
    expect(error.code).toBe('IMAGE_PATH_FORBIDDEN');
    expect(error.message).toContain(join(base, 'root'));
  });

  it('says where a relative path was looked for', async () => {
    const error = await failure(new NodeImageInspector(join(base, 'root')), 'images/vmlinux');
    expect(error.code).toBe('IMAGE_FILE_NOT_FOUND');
    expect(error.message).toContain(`${join(base, 'root', 'images/vmlinux')} (a relative hostPath is read under the image root)`);
  });
});
