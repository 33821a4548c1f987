import { mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
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
