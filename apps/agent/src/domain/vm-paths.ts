import { posix } from 'node:path';
import type { VmId } from './vm-id.js';

/** Every file the Agent keeps for one VM, all inside `${runDir}/vms/<vmId>/`. */
export interface VmPaths {
  readonly directory: string;
  /** The VM's record: its first slot, whole whenever it exists. */
  readonly record: string;
  /** The record's second slot, written in turn with the first (`record` and a suffix, as the proxy's confinement expects). */
  readonly recordAlternate: string;
  readonly socket: string;
  readonly firecrackerLog: string;
  /** The VMM's stdout: the guest's serial console. */
  readonly stdoutLog: string;
  /** The previous part of the serial console's log, once the current one outgrew its cap. */
  readonly stdoutLogRotated: string;
  readonly stderrLog: string;
  /** Firecracker's `--config-file`: what a fresh VMM builds its VM from. */
  readonly vmmConfig: string;
  /** Firecracker's `--metadata`: the MMDS data a fresh VMM starts with. */
  readonly mmdsData: string;
  readonly metricsFifo: string;
  /** The VMM's stdin: what is written to it is the guest's serial input. */
  readonly consoleFifo: string;
  readonly rootfs: string;
  /** The guest memory merged from a diff snapshot's chain, which a VM restored from that diff maps. */
  readonly restoredMemory: string;
  /** `rootfs` relative to `directory`, the VMM's working directory: the path Firecracker is given. */
  readonly rootfsInDirectory: string;
}

export function vmsDirectory(runDir: string): string {
  return posix.join(runDir, 'vms');
}

/**
 * Where warm VMMs wait (`VmmPool`): each in a directory of its own there, named as a VM's files
 * are, which becomes a VM's directory when the VM takes its VMM.
 */
export function vmmPoolDirectory(runDir: string): string {
  return posix.join(runDir, 'vmm-pool');
}

export function vmPaths(runDir: string, vmId: VmId): VmPaths {
  return pathsIn(posix.join(vmsDirectory(runDir), vmId));
}

/**
 * The VM's files in `directory` (normalised, not ending in `/`): a VM's own, or a warm VMM's
 * directory, whose files a VM keeps under the same names once it is moved to be the VM's.
 */
export function pathsIn(directory: string): VmPaths {
  // `directory` is normalised and never ends in `/`, so each file is `directory/name` as
  // `posix.join` would give it, without normalising it again.
  return {
    directory,
    record: `${directory}/record.json`,
    recordAlternate: `${directory}/record.json.alt`,
    socket: `${directory}/fc.sock`,
    firecrackerLog: `${directory}/firecracker.log`,
    stdoutLog: `${directory}/stdout.log`,
    stdoutLogRotated: `${directory}/stdout.log.1`,
    stderrLog: `${directory}/stderr.log`,
    vmmConfig: `${directory}/vmm-config.json`,
    mmdsData: `${directory}/mmds.json`,
    metricsFifo: `${directory}/metrics.fifo`,
    consoleFifo: `${directory}/console.fifo`,
    rootfs: `${directory}/rootfs.ext4`,
    restoredMemory: `${directory}/restored.memory`,
    rootfsInDirectory: 'rootfs.ext4',
  };
}

/** The files of snapshot `snapshotId` of the VM whose directory is `vmDirectory`. */
export function snapshotPaths(
  vmDirectory: string,
  snapshotId: string,
): { readonly statePath: string; readonly memoryPath: string; readonly rootfsPath: string } {
  return {
    statePath: posix.join(vmDirectory, `${snapshotId}.vmstate`),
    memoryPath: posix.join(vmDirectory, `${snapshotId}.memory`),
    rootfsPath: posix.join(vmDirectory, `${snapshotId}.rootfs.ext4`),
  };
}

/**
 * True when `path` (absolute) lies strictly under `directory`, judged on the normalized text: a
 * path read from a record is removed only when this holds for the run directory.
 */
export function isUnderDirectory(directory: string, path: string): boolean {
  if (!posix.isAbsolute(path) || !posix.isAbsolute(directory)) return false;
  const relative = posix.relative(posix.normalize(directory), posix.normalize(path));
  return relative !== '' && relative !== '..' && !relative.startsWith('../') && !posix.isAbsolute(relative);
}
