import type { ProjectSet } from '../../domain/access.js';
import type { SnapshotId, VmId } from '../../domain/ids.js';
import type { Snapshot, SnapshotFingerprint, SnapshotSizes, SnapshotState } from '../../domain/snapshot.js';

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
  /** Removes the row and writes `snapshot.deleted`; SNAPSHOT_NOT_FOUND when absent. */
  delete(id: SnapshotId, at: Date): Promise<void>;
}
