import path from 'node:path';
import { waitFor, writeEmptyExt4, writeFakeKernel } from '@hearth/testkit';
import type { BenchStack } from './bench-stack.js';
import { Floor, type FloorEgress } from './floor.js';

export interface VmStep {
  readonly name: string;
  readonly durationMs: number;
}

export interface CreatedVm {
  readonly id: string;
  readonly name: string;
  readonly state: string;
  readonly guestMac?: string;
  /** The address the Manager leased it (null for none). */
  readonly network?: { readonly ipAddress: string } | null;
  readonly steps: readonly VmStep[];
  readonly totalMs: number | null;
}

export interface CreateOutcome {
  readonly vm: CreatedVm | null;
  /** Client-observed: request sent → response body read. */
  readonly clientMs: number;
  readonly error: string | null;
}

export interface ImageIds {
  readonly kernelImageId: string;
  readonly rootfsImageId: string;
}

export const vmShape = { vcpuCount: 1, memoryMib: 128 } as const;

/**
 * The floor in the stack's namespace and on its bridge, booting the VM shape the Manager is asked
 * for from the images under the stack's image root (with the same `nft` work as the Agent when
 * `egress` is given).
 */
export function floorBeside(stack: BenchStack, egress?: FloorEgress): Floor {
  return new Floor({
    netns: stack.netns.name,
    bridge: stack.bridge,
    runDir: path.join(stack.workDir, 'floor'),
    doubleBin: stack.doubleBin,
    kernelPath: path.join(stack.imageRoot, 'vmlinux.bin'),
    rootfsPath: path.join(stack.imageRoot, 'rootfs.ext4'),
    bootArgs: 'console=ttyS0 reboot=k panic=1',
    ...vmShape,
    ...(egress === undefined ? {} : { egress }),
  });
}

/** Registers a kernel and a rootfs under the Manager's image root; returns their ids. */
export async function registerImages(
  stack: BenchStack,
  files: { kernelPath: string; rootfsPath: string; suffix: string },
): Promise<ImageIds> {
  const register = async (kind: 'kernel' | 'rootfs', hostPath: string): Promise<string> => {
    const response = await stack.api<{ id: string }>('POST', '/v1/images', {
      kind,
      name: `bench-${kind}-${files.suffix}`,
      hostPath,
    });
    if (response.status !== 201)
      throw new Error(`POST /v1/images (${kind}) answered ${response.status}: ${JSON.stringify(response.body)}`);
    return response.body.id;
  };
  return { kernelImageId: await register('kernel', files.kernelPath), rootfsImageId: await register('rootfs', files.rootfsPath) };
}

/**
 * Writes a made-up kernel and an empty ext4 rootfs into the stack's image root (what the simulated
 * VMMs boot) and registers them.
 */
export async function registerSimulatedImages(stack: BenchStack, suffix: string): Promise<ImageIds> {
  const kernelPath = path.join(stack.imageRoot, 'vmlinux.bin');
  const rootfsPath = path.join(stack.imageRoot, 'rootfs.ext4');
  writeFakeKernel(kernelPath);
  writeEmptyExt4(rootfsPath);
  return registerImages(stack, { kernelPath, rootfsPath, suffix });
}

/** `POST /v1/vms` of a VM of `vmShape`, with `extra` fields of the body (boot arguments, egress, ports, …). */
export async function createVm(
  stack: BenchStack,
  images: ImageIds,
  name: string,
  extra: Readonly<Record<string, unknown>> = {},
): Promise<CreateOutcome> {
  const startedAt = performance.now();
  try {
    const response = await stack.api<CreatedVm>('POST', '/v1/vms', { name, ...vmShape, ...images, ...extra });
    const clientMs = performance.now() - startedAt;
    if (response.status !== 201) {
      return { vm: null, clientMs, error: `HTTP ${response.status}: ${JSON.stringify(response.body).slice(0, 300)}` };
    }
    return { vm: response.body, clientMs, error: null };
  } catch (error) {
    return { vm: null, clientMs: performance.now() - startedAt, error: error instanceof Error ? error.message : String(error) };
  }
}

/** How long a delete accepted (202) but not finished is waited for, until its VM is gone. */
const acceptedDeleteTimeoutMs = 180_000;

/**
 * Deletes a VM, timed until it is gone: a delete its host did not confirm in time is accepted (202)
 * and finished by the reconciler (after its grace), which is waited for, so that a wave's deletes
 * count only VMs that no longer exist.
 */
export async function deleteVm(stack: BenchStack, id: string): Promise<{ ms: number; error: string | null }> {
  const startedAt = performance.now();
  try {
    const response = await stack.api('DELETE', `/v1/vms/${id}`);
    if (response.status === 202) {
      await waitFor(async () => (await stack.api('GET', `/v1/vms/${id}`)).status === 404, {
        timeoutMs: acceptedDeleteTimeoutMs,
        intervalMs: 250,
        description: `the accepted delete of ${id} finishes`,
      });
    }
    const ms = performance.now() - startedAt;
    return response.status >= 200 && response.status < 300
      ? { ms, error: null }
      : { ms, error: `HTTP ${response.status}: ${JSON.stringify(response.body).slice(0, 300)}` };
  } catch (error) {
    return { ms: performance.now() - startedAt, error: error instanceof Error ? error.message : String(error) };
  }
}

/** Runs `count` jobs with at most `concurrency` in flight; `shouldStop` is asked before each one starts. */
export async function runPool<T>(
  count: number,
  concurrency: number,
  job: (index: number) => Promise<T>,
  shouldStop: () => boolean = () => false,
): Promise<T[]> {
  const results: T[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      if (next >= count || shouldStop()) return;
      const index = next++;
      results[index] = await job(index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return results.filter((result) => result !== undefined);
}

/**
 * Wall time the Agent spent in its steps: tap and rootfs run side by side (the longest counts), and
 * so does a restore's spawn; a fresh VM's spawn starts its VMM configured, after them (ADR 0088). The
 * other steps count one after another.
 */
export function agentStepsWallMs(steps: readonly VmStep[]): number {
  const isRestore = steps.some((step) => step.name === 'load');
  const concurrent = new Set(isRestore ? ['tap', 'rootfs', 'spawn'] : ['tap', 'rootfs']);
  let parallel = 0;
  let serial = 0;
  for (const step of steps) {
    if (concurrent.has(step.name)) parallel = Math.max(parallel, step.durationMs);
    else serial += step.durationMs;
  }
  return parallel + serial;
}
