import { AppError } from '@hearth/errors';
import type { HostId, ImageId, SnapshotId, TemplateId, VmId } from './ids.js';

/** `creating` until its host answers, then `ready` (usable) or `failed` (nothing of it is kept). */
export const snapshotStates = ['creating', 'ready', 'failed'] as const;
export type SnapshotState = (typeof snapshotStates)[number];

/**
 * `full`: the whole guest memory; `diff`: only the memory the VM wrote since its parent (a ready
 * snapshot of the same VM), restored by merging the chain from its full root down to it.
 */
export const snapshotTypes = ['full', 'diff'] as const;
export type SnapshotType = (typeof snapshotTypes)[number];

/** What the VM is once the snapshot is taken: back as it was (running, or paused), or stopped. */
export type SnapshotAfterwards = 'previous_state' | 'stopped';

/**
 * What a restore needs to match: the VMM that wrote the snapshot and the guest kernel it ran, and
 * what its host reported when it was taken (its snapshot format, kernel release, CPU model and a
 * digest of the CPU's flags). The host's parts are absent from snapshots taken before they were
 * recorded, and null when the host did not report them.
 */
export interface SnapshotFingerprint {
  readonly vmmKind: string;
  readonly vmmVersion: string;
  readonly kernelImageId: ImageId;
  readonly kernelSha256: string;
  readonly snapshotFormatVersion?: string | null;
  readonly hostKernelRelease?: string | null;
  readonly cpuModel?: string | null;
  readonly cpuFlagsSha256?: string | null;
}

export interface SnapshotSizes {
  readonly stateBytes: number;
  readonly memoryBytes: number;
  readonly rootfsBytes: number;
}

/**
 * The SHA-256 (hex) of each of a snapshot's files, taken when it became ready, and for a diff that
 * of its memory file's data regions (absent from diffs taken before it was recorded: such a diff's
 * files are not copied, since a copy could not tell its holes from the zeros its guest wrote).
 */
export interface SnapshotDigests {
  readonly stateSha256: string;
  readonly memorySha256: string;
  readonly rootfsSha256: string;
  readonly memoryRegionsSha256?: string;
}

/** A copy of a snapshot's files on a host other than the one that took it. */
export interface SnapshotCopy {
  readonly snapshotId: SnapshotId;
  readonly hostId: HostId;
  /** `copying` from before the host is asked until every file arrived with its digest (`ready`). */
  readonly state: 'copying' | 'ready';
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/**
 * A snapshot of a VM (memory, device state and a disk copy taken while the guest was paused), on
 * the VM's host: full, or a diff on top of its parent.
 */
export interface Snapshot {
  readonly id: SnapshotId;
  readonly vmId: VmId;
  /** The VM's project. */
  readonly project: string;
  readonly hostId: HostId;
  readonly state: SnapshotState;
  /** Null until ready. */
  readonly sizes: SnapshotSizes | null;
  /** How long the guest was paused for it (0 when it was paused already); null until ready. */
  readonly pauseMs: number | null;
  readonly fingerprint: SnapshotFingerprint | null;
  /** Null until ready, and for snapshots taken before digests were recorded (their files are not copied). */
  readonly digests: SnapshotDigests | null;
  readonly type: SnapshotType;
  /** The snapshot a diff is taken on top of; full snapshots have none. */
  readonly parentId: SnapshotId | null;
  /** How many diffs lie between this snapshot and the full one at the root of its chain (0: full). */
  readonly chainDepth: number;
  /** The diff a full snapshot was made from by merging its chain (null once that diff is deleted). */
  readonly mergedFrom: SnapshotId | null;
  readonly expiresAt: Date | null;
  readonly failureReason: { readonly code: string; readonly message: string } | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export function snapshotNotFound(id: string): AppError {
  return new AppError('SNAPSHOT_NOT_FOUND', `No snapshot with id ${id}`, { details: { snapshotId: id } });
}

/** SNAPSHOT_NOT_READY for a removal of a snapshot still being taken. */
export function snapshotBeingTaken(id: SnapshotId): AppError {
  return new AppError('SNAPSHOT_NOT_READY', `Snapshot ${id} is still being taken`, { details: { snapshotId: id } });
}

/** The message of a `snapshot.expiry_changed` event. */
export function expiryChangeMessage(expiresAt: Date | null): string {
  return expiresAt === null ? 'expiry cleared' : `expires at ${expiresAt.toISOString()}`;
}

/** SNAPSHOT_NOT_READY: the snapshot is still being taken, or failed; `what` says what needs a ready one. */
export function snapshotNotReady(snapshot: Pick<Snapshot, 'id' | 'state'>, what: string): AppError {
  return new AppError('SNAPSHOT_NOT_READY', `Snapshot ${snapshot.id} is ${snapshot.state}: ${what}`, {
    details: { snapshotId: snapshot.id, state: snapshot.state },
  });
}

/**
 * The snapshots a new snapshot's files are made from while it is `creating`: the parent a diff is
 * taken on top of, the diff a merge is made from. Recording it holds them (see `SnapshotHolders`):
 * each must then exist and be ready.
 */
export function snapshotSources(snapshot: Pick<Snapshot, 'parentId' | 'mergedFrom'>): SnapshotId[] {
  return [snapshot.parentId, snapshot.mergedFrom].filter((id): id is SnapshotId => id !== null);
}

/** Why a snapshot cannot be read for a new one (see `snapshotSources`), undefined when it can. */
export function unreadableSource(id: SnapshotId, source: Pick<Snapshot, 'id' | 'state'> | undefined): AppError | undefined {
  if (source === undefined) return snapshotNotFound(id);
  if (source.state !== 'ready') return snapshotNotReady(source, 'only a ready snapshot can be read');
  return undefined;
}

/** SNAPSHOT_IN_TEMPLATE: templates carry the snapshot (a template drops it with `PATCH {"snapshotId": null}`). */
export function snapshotInTemplate(snapshotId: SnapshotId, templateIds: readonly string[]): AppError {
  return new AppError(
    'SNAPSHOT_IN_TEMPLATE',
    `Snapshot ${snapshotId} is carried by ${templateIds.length} template(s): change or delete them first`,
    { details: { snapshotId, templateIds: [...templateIds] } },
  );
}

/**
 * What keeps a snapshot from being removed: VMs that still need its files (a clone or a restore in
 * place still to load them, a VMM that maps its memory file), merges still reading them (snapshots
 * `creating` with `mergedFrom` it) and templates that carry it.
 */
export interface SnapshotHolders {
  readonly vmIds: readonly VmId[];
  readonly mergeIds: readonly SnapshotId[];
  readonly templateIds: readonly TemplateId[];
}

/**
 * Why the snapshot cannot be removed now, undefined when nothing holds it: SNAPSHOT_IN_USE (naming
 * the VMs, or the merges) before SNAPSHOT_IN_TEMPLATE, since a VM's or a merge's need ends by itself
 * and a template's does not.
 */
export function snapshotHeld(snapshotId: SnapshotId, holders: SnapshotHolders): AppError | undefined {
  if (holders.vmIds.length > 0) {
    return new AppError(
      'SNAPSHOT_IN_USE',
      `Snapshot ${snapshotId} is still needed by ${holders.vmIds.length} VM(s): restored from it and not stopped since, or still to be restored`,
      { details: { snapshotId, vmIds: [...holders.vmIds] } },
    );
  }
  if (holders.mergeIds.length > 0) {
    return new AppError(
      'SNAPSHOT_IN_USE',
      `Snapshot ${snapshotId} is being merged into snapshot ${holders.mergeIds.join(', ')}`,
      { details: { snapshotId, mergeIds: [...holders.mergeIds] } },
    );
  }
  if (holders.templateIds.length > 0) return snapshotInTemplate(snapshotId, holders.templateIds);
  return undefined;
}

/** What a removal took away, for the caller to remove the files from the hosts that held them. */
export interface RemovedSnapshot {
  readonly snapshot: Snapshot;
  /** The copies on other hosts, as they were recorded. */
  readonly copies: readonly SnapshotCopy[];
}
