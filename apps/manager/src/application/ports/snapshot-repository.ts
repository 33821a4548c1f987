import type { ProjectSet } from '../../domain/access.js';
import type { HostId, SnapshotId, VmId } from '../../domain/ids.js';
import type {
  Snapshot,
  SnapshotCopy,
  SnapshotDigests,
  SnapshotFingerprint,
  SnapshotSizes,
  SnapshotState,
} from '../../domain/snapshot.js';

export interface SnapshotFilter {
  readonly projects: ProjectSet;
  readonly vmId?: VmId | undefined;
  readonly state?: SnapshotState | undefined;
}

export interface SnapshotPage {
  readonly items: readonly Snapshot[];
  readonly nextCursor: SnapshotId | null;
}

/** How a snapshot being taken ended. */
export type SnapshotOutcome =
  | {
      readonly state: 'ready';
      readonly sizes: SnapshotSizes;
      readonly pauseMs: number;
      readonly fingerprint: SnapshotFingerprint;
      /** Null from a host that took no digests (an older Agent). */
      readonly digests: SnapshotDigests | null;
    }
  | { readonly state: 'failed'; readonly failureReason: { readonly code: string; readonly message: string } };

/** Snapshots, each change written with its `snapshot.*` event (vmId and objectId set) in one transaction. */
export interface SnapshotRepository {
  /** Writes a `creating` snapshot and `snapshot.created`. */
  insert(snapshot: Snapshot): Promise<void>;
  /** Records how a `creating` snapshot ended (`snapshot.ready` or `snapshot.failed`); SNAPSHOT_NOT_FOUND when absent. */
  finish(id: SnapshotId, outcome: SnapshotOutcome, at: Date): Promise<Snapshot>;
  findById(id: SnapshotId): Promise<Snapshot | undefined>;
  /** A keyset page ordered by id. */
  list(
    filter: SnapshotFilter,
    page: { readonly limit: number; readonly afterId?: SnapshotId | undefined },
  ): Promise<SnapshotPage>;
  /** Removes the row (and its copies' rows) and writes `snapshot.deleted`; SNAPSHOT_NOT_FOUND when absent. */
  delete(id: SnapshotId, at: Date): Promise<void>;
  /** The copies of the snapshot on other hosts. */
  listCopies(id: SnapshotId): Promise<SnapshotCopy[]>;
  /** The copies of snapshots held by the host (snapshots of VMs on other hosts). */
  listCopiesOnHost(hostId: HostId): Promise<SnapshotCopy[]>;
  /** Every copy recorded, on any host (one read for a resync of every host), by snapshot then host. */
  listAllCopies(): Promise<SnapshotCopy[]>;
  /**
   * Records a copy to `hostId` as `copying`, with `snapshot.copy_started`; a copy recorded already
   * (copying or ready) is left as it is. SNAPSHOT_NOT_FOUND when the snapshot is gone.
   */
  startCopy(id: SnapshotId, hostId: HostId, at: Date): Promise<SnapshotCopy>;
  /** The copy is `ready`, with `snapshot.copied`; SNAPSHOT_NOT_FOUND when it is not recorded. */
  finishCopy(id: SnapshotId, hostId: HostId, at: Date): Promise<SnapshotCopy>;
  /** Forgets the copy, with `snapshot.copy_removed` saying why; a copy not recorded is nothing to do. */
  removeCopy(id: SnapshotId, hostId: HostId, at: Date, why: string): Promise<void>;
}
