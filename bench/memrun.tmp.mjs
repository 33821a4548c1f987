import { startBenchStack } from '/work/main/bench/dist/bench-stack.js';
import { registerImages, createVm, deleteVm, runPool } from '/work/main/bench/dist/manager-vms.js';
import { writeFakeKernel, writeEmptyExt4 } from '@hearth/testkit';
import path from 'node:path';
const stack = await startBenchStack({ doubleNodeFlags: ['--lite-mode', '--max-semi-space-size=1'] });
try {
  writeFakeKernel(path.join(stack.imageRoot, 'vmlinux.bin'));
  writeEmptyExt4(path.join(stack.imageRoot, 'rootfs.ext4'));
  const images = await registerImages(stack, {
    kernelPath: path.join(stack.imageRoot, 'vmlinux.bin'),
    rootfsPath: path.join(stack.imageRoot, 'rootfs.ext4'),
    suffix: 'sim',
  });
  const n = Number(process.env.N ?? 500);
  const outs = await runPool(n, Number(process.env.C ?? 50), (i) => createVm(stack, images, `m-${i}`));
  console.error('created', outs.filter((o) => o.vm).length);
  await new Promise((r) => setTimeout(r, 10000));
  const ids = outs.flatMap((o) => (o.vm ? [o.vm.id] : []));
  await runPool(ids.length, 50, (i) => deleteVm(stack, ids[i]));
  await new Promise((r) => setTimeout(r, 6000));
} finally {
  await stack.stop();
}
