import { posix } from 'node:path';
import { AppError } from '@hearth/errors';
import type { SnapshotDigests, SnapshotFileName } from '@hearth/contracts';
import { snapshotPaths } from './vm-paths.js';

/** One file of a copy: where it goes, what it must hash to, how large it may be, and whether it arrived intact. */
export interface SnapshotCopyFile {
  readonly path: string;
  readonly sha256: string;
  readonly maxBytes: number;
  /** A diff's memory file: the digest of its data regions, which it arrives as and must keep. */
  readonly dataRegionsSha256?: string;
  readonly isVerified: boolean;
}

/**
 * The ledger of a copy of another host's snapshot, in its own directory
 * (`${runDir}/snapshots/<snapshotId>/`). Written `copying` before any file is, so a crash
 * mid-copy leaves a record that names what to remove; `ready` once every file arrived with its
 * digest. Files are received under a temporary name and renamed once verified.
 */
export interface SnapshotCopyRecord {
  readonly schemaVersion: 1;
  readonly snapshotId: string;
  /** The VM the snapshot was taken of, on another host. */
  readonly vmId: string;
  /** A diff's parent, restored under it: a copy on this host, or a snapshot taken here. */
  readonly parentId?: string;
  readonly state: 'copying' | 'ready';
  readonly directory: string;
  readonly files: Readonly<Record<SnapshotFileName, SnapshotCopyFile>>;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export function snapshotCopiesDirectory(runDir: string): string {
  return posix.join(runDir, 'snapshots');
}

export function snapshotCopyDirectory(runDir: string, snapshotId: string): string {
  return posix.join(snapshotCopiesDirectory(runDir), snapshotId);
}

/**
 * A new `copying` record for the snapshot's files with these digests and sizes; a diff (with its
 * `parentId`) must have its memory file's layout digest, which its memory file is checked against.
 */
export function newSnapshotCopy(
  runDir: string,
  snapshotId: string,
  vmId: string,
  digests: SnapshotDigests,
  maxBytes: Readonly<Record<SnapshotFileName, number>>,
  now: Date,
  parentId?: string,
): SnapshotCopyRecord {
  if (parentId !== undefined && digests.memoryRegionsSha256 === undefined) {
    throw new AppError(
      'VALIDATION_FAILED',
      `Snapshot ${snapshotId} is a diff: its copy needs the digest of its memory file's data regions`,
      { errors: [{ field: 'body/digests/memoryRegionsSha256', message: 'is required with parentId' }] },
    );
  }
  const directory = snapshotCopyDirectory(runDir, snapshotId);
  const paths = snapshotPaths(directory, snapshotId);
  const file = (path: string, sha256: string, bytes: number): SnapshotCopyFile => ({
    path,
    sha256,
    maxBytes: bytes,
    isVerified: false,
  });
  const memory = file(paths.memoryPath, digests.memorySha256, maxBytes.memory);
  return {
    schemaVersion: 1,
    snapshotId,
    vmId,
    ...(parentId === undefined ? {} : { parentId }),
    state: 'copying',
    directory,
    files: {
      state: file(paths.statePath, digests.stateSha256, maxBytes.state),
      memory: parentId === undefined ? memory : { ...memory, dataRegionsSha256: digests.memoryRegionsSha256 },
      rootfs: file(paths.rootfsPath, digests.rootfsSha256, maxBytes.rootfs),
    },
    createdAt: now.toISOString(),
    updatedAt: now.toISOString(),
  };
}

/** The digests a copy was asked to match. */
export function digestsOfCopy(record: SnapshotCopyRecord): SnapshotDigests {
  const regions = record.files.memory.dataRegionsSha256;
  return {
    stateSha256: record.files.state.sha256,
    memorySha256: record.files.memory.sha256,
    rootfsSha256: record.files.rootfs.sha256,
    ...(regions === undefined ? {} : { memoryRegionsSha256: regions }),
  };
}

/** True when a copy was asked for with the same digests and the same parent: it is the same copy. */
export function isSameCopy(record: SnapshotCopyRecord, digests: SnapshotDigests, parentId: string | undefined): boolean {
  const asked: SnapshotDigests = {
    stateSha256: digests.stateSha256,
    memorySha256: digests.memorySha256,
    rootfsSha256: digests.rootfsSha256,
    ...(parentId === undefined || digests.memoryRegionsSha256 === undefined
      ? {}
      : { memoryRegionsSha256: digests.memoryRegionsSha256 }),
  };
  return JSON.stringify(digestsOfCopy(record)) === JSON.stringify(asked) && record.parentId === parentId;
}

/** The files of the copy that have not arrived intact yet. */
export function missingFilesOf(record: SnapshotCopyRecord): SnapshotFileName[] {
  return (['state', 'memory', 'rootfs'] as const).filter((name) => !record.files[name].isVerified);
}

/** The record with `name` verified, and `ready` once every file is. */
export function withVerifiedFile(record: SnapshotCopyRecord, name: SnapshotFileName, now: Date): SnapshotCopyRecord {
  const files = { ...record.files, [name]: { ...record.files[name], isVerified: true } };
  const isComplete = Object.values(files).every((file) => file.isVerified);
  return { ...record, files, state: isComplete ? 'ready' : 'copying', updatedAt: now.toISOString() };
}
