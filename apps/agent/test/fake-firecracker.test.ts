import { FakeFirecrackerApi, FakeVmm } from '../src/adapters/fake/fake-firecracker.js';
import { FakeHostFiles } from '../src/adapters/fake/fake-host-files.js';
import { describeFirecrackerContract } from './firecracker.contract.js';

describeFirecrackerContract('FakeVmm + FakeFirecrackerApi', async () => {
  const files = new FakeHostFiles();
  const vmm = new FakeVmm(files);
  const directory = '/run/hearth-test';
  const kernelPath = `${directory}/images/vmlinux`;
  const rootfsPath = `${directory}/images/rootfs.ext4`;
  files.addFile(kernelPath, 'ELF', 4096);
  files.addFile(rootfsPath, '', 8 * 1024 * 1024);
  return {
    vmm,
    api: new FakeFirecrackerApi(vmm),
    directory,
    kernelPath,
    rootfsPath,
    makeFifo: (path) => files.createFifo(path),
    occupy: async (path) => files.addFile(path),
    sizeOf: async (path) => {
      const check = await files.inspectImage('/', path);
      return check.kind === 'regular' ? check.sizeBytes : undefined;
    },
    nicenessOf: async (process) => [vmm.processes.get(process.pid)?.niceness ?? Number.NaN],
    mayLowerNiceness: true,
    waitForApi: async () => undefined,
    waitForExit: async () => undefined,
    unopenablePath: async () => {
      const path = `${directory}/missing/firecracker.log`;
      vmm.unopenableSinkPaths.set(path, 'No such file or directory (os error 2)');
      return path;
    },
    readOutput: async (stdoutPath, stderrPath) =>
      (await files.readTail(stdoutPath, 4096)) + (await files.readTail(stderrPath, 4096)),
    cleanup: async () => undefined,
  };
});
