import { mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { AppError } from '@hearth/errors';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
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
    close: () => rm(base, { recursive: true, force: true }),
  };
});

describe('NodeImageInspector errors', () => {
  let base: string;
  beforeEach(async () => {
    base = await realpath(await mkdtemp(join(tmpdir(), 'hearth-inspector-')));
    await mkdir(join(base, 'root'));
  });
  afterEach(() => rm(base, { recursive: true, force: true }));

  const failure = async (inspector: NodeImageInspector, hostPath: string): Promise<AppError> => {
    const error = await inspector.open(hostPath).then(
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
