import type { ProjectSet } from '../../domain/access.js';
import type { HostId, SnapshotId, VmId } from '../../domain/ids.js';
import type {
  RemovedSnapshot,
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
  /** Only the diffs taken on top of this snapshot. */
  readonly parentId?: SnapshotId | undefined;
  /** Only the full snapshots merged from this diff. */
  readonly mergedFrom?: SnapshotId | undefined;
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
  /**
   * Removes the row (and its copies' rows) and writes `snapshot.deleted` (after `snapshot.expired`
   * for a removal at expiry), answering what it removed, for the files on the hosts to go next. The
   * checks and the removal are one transaction under the row's lock (FOR UPDATE), which every write
   * that records a VM restoring the snapshot holds too (see `VmRepository.insertAll`): a removal and
   * such a write happen one after the other. Throws SNAPSHOT_NOT_FOUND when absent,
   * SNAPSHOT_NOT_READY while `creating`, SNAPSHOT_HAS_DIFFS while a diff's row names it as its parent,
   * and what `snapshotHeld` says while VMs or templates hold it.
   */
  delete(id: SnapshotId, at: Date, options?: { readonly isExpiry?: boolean }): Promise<RemovedSnapshot>;
  /**
   * Snapshots past their expiry at `at` (not those being taken), deepest in a chain first (diffs
   * before the snapshots under them), then oldest expiry first, at most
   * `limit`; not those whose removal was held (`holdExpiry`) while what held it still does (VMs or
   * merges that need it, templates that carry it, diffs on top of it), so held ones never keep
   * newer expiries waiting.
   */
  listExpired(at: Date, limit: number): Promise<Snapshot[]>;
  /**
   * Records that the snapshot's removal at expiry waits (`heldBy`: the error code saying why) with a
   * `snapshot.expiry_held` event carrying `message`, unless that reason is recorded already: answers
   * whether it wrote. Nothing when the snapshot is gone.
   */
  holdExpiry(id: SnapshotId, heldBy: string, at: Date, message: string): Promise<boolean>;
  /**
   * Sets, moves or clears (null) the expiry, with a `snapshot.expiry_changed` event, and forgets
   * why an earlier expiry waited. SNAPSHOT_NOT_FOUND when absent.
   */
  setExpiry(id: SnapshotId, expiresAt: Date | null, at: Date): Promise<Snapshot>;
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
