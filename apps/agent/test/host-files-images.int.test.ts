import { execFileSync } from 'node:child_process';
import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FakeHostFiles } from '../src/adapters/fake/fake-host-files.js';
import { ExecFileCommandRunner } from '../src/adapters/linux/exec-file-command-runner.js';
import { LinuxHostFiles } from '../src/adapters/linux/linux-host-files.js';
import { describeHostFilesImagesContract } from './host-files-images.contract.js';
import { makeTempDir } from './support.js';

describeHostFilesImagesContract('FakeHostFiles', async () => {
  const files = new FakeHostFiles();
  const root = '/srv/images';
  return {
    files,
    root,
    scratch: '/srv/fc',
    putFile: async (path, content) => files.addFile(`${root}/${path}`, content),
    putFifo: async (path) => void files.files.set(`${root}/${path}`, { kind: 'fifo', content: '', sizeBytes: 0 }),
    putSymlink: async (path, target) => void files.symlinks.set(`${root}/${path}`, target),
    read: async (path) => files.files.get(path)?.content,
    cleanup: async () => undefined,
  };
});

describeHostFilesImagesContract('LinuxHostFiles', async () => {
  const directory = await makeTempDir();
  const root = join(directory, 'images');
  const scratch = join(directory, 'scratch');
  await mkdir(root);
  await mkdir(scratch);
  return {
    files: new LinuxHostFiles(new ExecFileCommandRunner()),
    root,
    scratch,
    putFile: (path, content) => writeFile(join(root, path), content),
    putFifo: async (path) => void execFileSync('mkfifo', [join(root, path)]),
    putSymlink: (path, target) => symlink(target, join(root, path)),
    read: (path) => readFile(path, 'utf8').catch(() => undefined),
    cleanup: () => rm(directory, { recursive: true, force: true }),
  };
});
