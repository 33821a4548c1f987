import type {
  CleanupResult,
  SnapshotCopyEntry,
  SnapshotCopyRequest,
  SnapshotCopyResult,
  SnapshotFileName,
} from '@hearth/contracts';
import { AppError } from '@hearth/errors';
import { dataRegionStreamType } from '../../domain/data-region-stream.js';
import { memoryChainOf } from '../../domain/memory-chain.js';
import {
  isSameCopy,
  missingFilesOf,
  newSnapshotCopy,
  withVerifiedFile,
  type SnapshotCopyRecord,
} from '../../domain/snapshot-copy.js';
import { snapshotsOf, type SnapshotRecord } from '../../domain/vm-record.js';
import type { AgentContext } from '../agent-context.js';
import type { FileEncoding, OpenedFile, ReceivedFile } from '../ports/host-files.js';

/** Copies of one snapshot are serialised under this key (VM keys are `vm_…`, so they never meet). */
function copyLockKey(snapshotId: string): string {
  return `copy:${snapshotId}`;
}

/**
 * `PUT /snapshots/:snapshotId`: this host is to hold a copy of a snapshot taken on another host.
 * The copy is recorded `copying` (its directory, each file's digest and largest size) before any
 * byte arrives, so an Agent that dies mid-copy removes it at its next start. A copy that is ready
 * with the same digests is answered as it is; one asked again with other digests starts afresh.
 */
export async function prepareSnapshotCopy(
  context: AgentContext,
  snapshotId: string,
  request: SnapshotCopyRequest,
): Promise<SnapshotCopyResult> {
  return context.locks.run(copyLockKey(snapshotId), async () => {
    const existing = await context.copies.get(snapshotId);
    if (existing !== undefined && isSameCopy(existing, request.digests, request.parentId)) return copyResult(existing);
    if (existing !== undefined) await context.copies.remove(snapshotId);
    const sizes = {
      state: request.sizes.stateSizeBytes,
      memory: request.sizes.memorySizeBytes,
      rootfs: request.sizes.rootfsSizeBytes,
    };
    const copy = newSnapshotCopy(
      context.settings.runDir,
      snapshotId,
      request.vmId,
      request.digests,
      sizes,
      context.clock.now(),
      request.parentId,
    );
    await context.copies.save(copy);
    context.log.info({ snapshotId, vmId: request.vmId, parentId: request.parentId }, 'snapshot copy started');
    return copyResult(copy);
  });
}

/**
 * How a file of a copy is sent: whole (`application/octet-stream`), or as its data regions (a
 * diff's memory always; any other file but the small device state when the receiver takes it so).
 */
export type SnapshotFileEncoding = FileEncoding;

/** The media type of a file sent in this encoding. */
export function mediaTypeOf(encoding: SnapshotFileEncoding): string {
  return encoding === 'data_regions' ? dataRegionStreamType : 'application/octet-stream';
}

/** The encoding of a file that arrives in this media type (its parameters aside). */
export function encodingOfMediaType(mediaType: string | undefined): SnapshotFileEncoding {
  return mediaType?.split(';')[0]?.trim().toLowerCase() === dataRegionStreamType ? 'data_regions' : 'whole';
}

/**
 * `PUT /snapshots/:snapshotId/files/:file`: one file of a copy, streamed, whole or as its data
 * regions. It is written under a temporary name and kept only when its SHA-256 is the one recorded
 * for it and, for a diff's memory file (which must arrive as its data regions), its layout is the
 * one recorded and this host's file system keeps it (SNAPSHOT_DIGEST_MISMATCH, or
 * SNAPSHOT_INCOMPATIBLE for a file system that does not keep it: nothing of the file is kept). Any
 * other file may arrive either way: its holes and zeros mean the same, and both are left as holes.
 * The copy is `ready` once its three files are.
 */
export async function receiveSnapshotFile(
  context: AgentContext,
  snapshotId: string,
  name: SnapshotFileName,
  chunks: AsyncIterable<Uint8Array>,
  encoding: SnapshotFileEncoding = 'whole',
): Promise<SnapshotCopyResult> {
  return context.locks.run(copyLockKey(snapshotId), async () => {
    const copy = await context.copies.get(snapshotId);
    if (copy === undefined) throw copyNotFound(snapshotId);
    const file = copy.files[name];
    if (file.isVerified) return copyResult(copy);
    if (file.dataRegionsSha256 !== undefined && encoding !== 'data_regions') {
      throw new AppError(
        'SNAPSHOT_DIGEST_MISMATCH',
        `The ${name} file of snapshot ${snapshotId} is a diff's memory: it must arrive as its data regions (${dataRegionStreamType})`,
        { details: { snapshotId, file: name } },
      );
    }
    const received = await context.files.receiveFile(
      file.path,
      chunks,
      {
        sha256: file.sha256,
        maxBytes: file.maxBytes,
        ...(file.dataRegionsSha256 === undefined ? {} : { dataRegionsSha256: file.dataRegionsSha256 }),
      },
      encoding,
    );
    if (received.kind !== 'verified') {
      context.log.warn({ snapshotId, file: name, outcome: received.kind }, 'snapshot file refused');
      throw refusedFile(snapshotId, name, received);
    }
    const updated = withVerifiedFile(copy, name, context.clock.now());
    await context.copies.save(updated);
    if (updated.state === 'ready') context.log.info({ snapshotId }, 'snapshot copy ready');
    return copyResult(updated);
  });
}

/** Why a file of a copy was refused, as an error: nothing of it was kept. */
function refusedFile(
  snapshotId: string,
  name: SnapshotFileName,
  received: Exclude<ReceivedFile, { kind: 'verified' }>,
): AppError {
  const details = { snapshotId, file: name };
  const what = `The ${name} file of snapshot ${snapshotId}`;
  switch (received.kind) {
    case 'too_large':
      return new AppError('SNAPSHOT_DIGEST_MISMATCH', `${what} is larger than the snapshot's: it was refused`, { details });
    case 'digest_mismatch':
      return new AppError(
        'SNAPSHOT_DIGEST_MISMATCH',
        `${what} arrived with another SHA-256 than the snapshot's: it was refused`,
        {
          details,
        },
      );
    case 'malformed':
      return new AppError('SNAPSHOT_DIGEST_MISMATCH', `${what} arrived malformed (${received.reason}): it was refused`, {
        details,
      });
    case 'layout_mismatch':
      return new AppError(
        'SNAPSHOT_DIGEST_MISMATCH',
        `${what} arrived with other data regions than the snapshot's: it was refused`,
        { details },
      );
    case 'layout_not_kept':
      return new AppError(
        'SNAPSHOT_INCOMPATIBLE',
        `${what} is a diff's memory, and this host's file system does not keep its data regions as written: it was refused`,
        { details },
      );
  }
}

/** `DELETE /snapshots/:snapshotId`: removes the copy's directory and forgets it; an unknown copy removes nothing. */
export async function deleteSnapshotCopy(context: AgentContext, snapshotId: string): Promise<CleanupResult> {
  return context.locks.run(copyLockKey(snapshotId), async () => {
    const copy = await context.copies.get(snapshotId);
    if (copy === undefined) return { removed: [] };
    await context.copies.remove(snapshotId);
    return { removed: [{ kind: 'snapshot', ref: snapshotId, vmId: copy.vmId }] };
  });
}

/** At start: copies a crash interrupted are removed (files half received included). Answers how many. */
export async function discardUnfinishedCopies(context: AgentContext): Promise<number> {
  let discarded = 0;
  for (const copy of await context.copies.loadAll()) {
    if (copy.state === 'ready') continue;
    await context.copies.remove(copy.snapshotId);
    context.log.warn({ snapshotId: copy.snapshotId }, 'unfinished snapshot copy removed');
    discarded += 1;
  }
  return discarded;
}

/** The copies this host holds, for the inventory. */
export async function listSnapshotCopies(context: AgentContext): Promise<SnapshotCopyEntry[]> {
  return (await context.copies.list()).map((copy) => ({
    snapshotId: copy.snapshotId,
    vmId: copy.vmId,
    state: copy.state,
    directory: copy.directory,
  }));
}

/**
 * The ready copy of a snapshot, as a restore reads it: relocatable by construction (a snapshot
 * that is not is never served to be copied).
 */
export async function readyCopyOf(
  context: AgentContext,
  snapshotId: string,
): Promise<{ readonly snapshot: SnapshotRecord; readonly directory: string } | undefined> {
  const copy = await context.copies.get(snapshotId);
  if (copy?.state !== 'ready') return undefined;
  return { directory: copy.directory, snapshot: snapshotOfCopy(copy) };
}

/** A ready copy (only a ready one is asked) as the snapshot it holds: relocatable by construction, a diff when it names a parent. */
function snapshotOfCopy(copy: SnapshotCopyRecord): SnapshotRecord {
  return {
    id: copy.snapshotId,
    state: 'ready',
    ...(copy.parentId === undefined ? {} : { type: 'diff' as const, parentId: copy.parentId }),
    statePath: copy.files.state.path,
    memoryPath: copy.files.memory.path,
    rootfsPath: copy.files.rootfs.path,
    isRelocatable: true,
  };
}

/**
 * The memory files a ready snapshot held here restores from, its chain's full root first and it
 * last: each diff's parent must be a ready snapshot of this host or a ready copy of one
 * (SNAPSHOT_NOT_FOUND names the one missing).
 */
export async function memoryLayersHere(context: AgentContext, snapshot: SnapshotRecord): Promise<string[]> {
  const taken = (await context.records.list()).flatMap((record) => snapshotsOf(record));
  const copied = (await context.copies.list()).flatMap((copy) => (copy.state === 'ready' ? [snapshotOfCopy(copy)] : []));
  return memoryChainOf([...taken, ...copied], snapshot);
}

/**
 * `GET /snapshots/:snapshotId/files/:file`: one file of a ready snapshot this host holds (taken
 * here, or a ready copy), read from one open file. A diff's memory file is always sent as its data
 * regions as written (in a diff a hole means "as in the parent", and zeros written are data). Any
 * other file is sent whole, or, when the asker takes data regions (`acceptsDataRegions`, said by
 * its Accept header), the memory and the disk as their data regions less their blocks of zeros
 * (holes and zeros mean the same there): only what is not zero crosses. The device state, small
 * and dense, is always sent whole. SNAPSHOT_NOT_FOUND when it holds none; a snapshot whose device
 * state names its VM's disk by absolute path is not copied (SNAPSHOT_INCOMPATIBLE: a VM restored
 * from it elsewhere would look for that disk).
 */
export async function openSnapshotFile(
  context: AgentContext,
  snapshotId: string,
  name: SnapshotFileName,
  acceptsDataRegions = false,
): Promise<{
  readonly sizeBytes: number;
  readonly encoding: SnapshotFileEncoding;
  readonly chunks: AsyncIterable<Uint8Array>;
}> {
  const found = await heldSnapshot(context, snapshotId);
  if (found === undefined) {
    throw new AppError('SNAPSHOT_NOT_FOUND', `No ready snapshot ${snapshotId} on this host`, { details: { snapshotId } });
  }
  if (found.snapshot.isRelocatable !== true) {
    throw new AppError(
      'SNAPSHOT_INCOMPATIBLE',
      `Snapshot ${snapshotId} names its VM's disk by absolute path: it cannot be restored on another host`,
      { details: { snapshotId } },
    );
  }
  const paths: Readonly<Record<SnapshotFileName, string>> = {
    state: found.snapshot.statePath,
    memory: found.snapshot.memoryPath,
    rootfs: found.snapshot.rootfsPath,
  };
  const path = paths[name];
  const isDiffMemory = name === 'memory' && found.snapshot.type === 'diff';
  const encoding: SnapshotFileEncoding = isDiffMemory || (acceptsDataRegions && name !== 'state') ? 'data_regions' : 'whole';
  const opened: OpenedFile =
    encoding === 'whole'
      ? await context.files.openForReading(found.directory, path)
      : await context.files.openDataRegionsForReading(found.directory, path, isDiffMemory ? 'as_written' : 'zeros_as_holes');
  if (!('chunks' in opened)) {
    throw new AppError('HOST_COMMAND_FAILED', `A file of snapshot ${snapshotId} is missing (${opened.check.kind})`, {
      diagnostics: { path },
    });
  }
  const sent = (sentBytes: number): void =>
    context.log.info({ snapshotId, file: name, encoding, sizeBytes: opened.check.sizeBytes, sentBytes }, 'snapshot file sent');
  return { sizeBytes: opened.check.sizeBytes, encoding, chunks: countedUntilTheEnd(opened.chunks, sent) };
}

/** The chunks as they are; once the last has been taken, `onEnd` is told how many bytes they held. */
async function* countedUntilTheEnd(
  chunks: AsyncIterable<Uint8Array>,
  onEnd: (byteCount: number) => void,
): AsyncIterable<Uint8Array> {
  let byteCount = 0;
  for await (const chunk of chunks) {
    byteCount += chunk.byteLength;
    yield chunk;
  }
  onEnd(byteCount);
}

/** A ready snapshot this host holds: of one of its VMs, or a ready copy. */
async function heldSnapshot(
  context: AgentContext,
  snapshotId: string,
): Promise<{ readonly snapshot: SnapshotRecord; readonly directory: string } | undefined> {
  for (const record of await context.records.list()) {
    const snapshot = snapshotsOf(record).find((s) => s.id === snapshotId && s.state === 'ready');
    if (snapshot !== undefined) return { snapshot, directory: record.directory };
  }
  return readyCopyOf(context, snapshotId);
}

function copyResult(copy: SnapshotCopyRecord): SnapshotCopyResult {
  return { snapshotId: copy.snapshotId, state: copy.state, missing: missingFilesOf(copy) };
}

function copyNotFound(snapshotId: string): AppError {
  return new AppError('SNAPSHOT_NOT_FOUND', `No copy of snapshot ${snapshotId} is being received on this host`, {
    details: { snapshotId },
  });
}
