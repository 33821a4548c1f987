import { AppError } from '@hearth/errors';
import type {
  SnapshotFilter,
  SnapshotOutcome,
  SnapshotPage,
  SnapshotRepository,
} from '../../application/ports/snapshot-repository.js';
import { canSeeProject } from '../../domain/access.js';
import type { HostId, SnapshotId } from '../../domain/ids.js';
import {
  expiryChangeMessage,
  snapshotBeingTaken,
  snapshotHeld,
  snapshotSources,
  snapshotNotFound,
  type RemovedSnapshot,
  type Snapshot,
  type SnapshotCopy,
  unreadableSource,
} from '../../domain/snapshot.js';
import { snapshotHasDiffs } from '../../domain/snapshot-chain.js';
import type { Store } from './in-memory-store.js';

export class InMemorySnapshotRepository implements SnapshotRepository {
  /** Why a snapshot's removal at expiry waits, as last reported (the table's `expiry_held_by`). */
  private readonly expiryHeldBy = new Map<SnapshotId, string>();

  constructor(private readonly store: Store) {}

  async insert(snapshot: Snapshot): Promise<void> {
    if (this.store.snapshots.has(snapshot.id)) throw new Error(`duplicate snapshot id ${snapshot.id}`);
    // Like the foreign key of the real table.
    if (!this.store.vms.has(snapshot.vmId)) throw new AppError('VM_NOT_FOUND', `No VM with id ${snapshot.vmId}`);
    // Like the real adapter's lock on the snapshots it is made from.
    for (const sourceId of snapshotSources(snapshot)) {
      const refusal = unreadableSource(sourceId, this.store.snapshots.get(sourceId));
      if (refusal !== undefined) throw refusal;
    }
    this.store.snapshots.set(snapshot.id, structuredClone(snapshot));
    this.record('snapshot.created', snapshot, snapshot.createdAt, 'creating');
  }

  async finish(id: SnapshotId, outcome: SnapshotOutcome, at: Date): Promise<Snapshot> {
    const current = this.store.snapshots.get(id);
    if (current === undefined || current.state !== 'creating') throw snapshotNotFound(id);
    const finished: Snapshot =
      outcome.state === 'ready'
        ? {
            ...current,
            state: 'ready',
            sizes: outcome.sizes,
            pauseMs: outcome.pauseMs,
            fingerprint: outcome.fingerprint,
            digests: outcome.digests,
            updatedAt: at,
          }
        : { ...current, state: 'failed', failureReason: outcome.failureReason, updatedAt: at };
    this.store.snapshots.set(id, structuredClone(finished));
    const message = outcome.state === 'ready' ? `ready, paused ${Math.round(outcome.pauseMs)} ms` : outcome.failureReason.message;
    this.record(outcome.state === 'ready' ? 'snapshot.ready' : 'snapshot.failed', finished, at, message);
    return structuredClone(finished);
  }

  async findById(id: SnapshotId): Promise<Snapshot | undefined> {
    const snapshot = this.store.snapshots.get(id);
    return snapshot === undefined ? undefined : structuredClone(snapshot);
  }

  async list(filter: SnapshotFilter, page: { limit: number; afterId?: SnapshotId | undefined }): Promise<SnapshotPage> {
    const matching = [...this.store.snapshots.values()]
      .filter((s) => canSeeProject(filter.projects, s.project))
      .filter((s) => filter.vmId === undefined || s.vmId === filter.vmId)
      .filter((s) => filter.state === undefined || s.state === filter.state)
      .filter((s) => filter.parentId === undefined || s.parentId === filter.parentId)
      .filter((s) => filter.mergedFrom === undefined || s.mergedFrom === filter.mergedFrom)
      .filter((s) => page.afterId === undefined || s.id > page.afterId)
      .sort((a, b) => (a.id < b.id ? -1 : 1));
    const items = matching.slice(0, page.limit).map((s) => structuredClone(s));
    const last = items.at(-1);
    return { items, nextCursor: matching.length > page.limit && last !== undefined ? last.id : null };
  }

  async delete(id: SnapshotId, at: Date, options: { readonly isExpiry?: boolean } = {}): Promise<RemovedSnapshot> {
    // No await from the checks to the removal: like the row lock of the real adapter.
    const current = this.store.snapshots.get(id);
    if (current === undefined) throw snapshotNotFound(id);
    if (current.state === 'creating') throw snapshotBeingTaken(id);
    const refusal = snapshotHeld(id, this.store.holdersOf(id));
    if (refusal !== undefined) throw refusal;
    const diffs = [...this.store.snapshots.values()].filter((s) => s.parentId === id).map((s) => s.id);
    if (diffs.length > 0) throw snapshotHasDiffs(id, diffs.sort());
    const copies = await this.listCopies(id);
    this.store.removeSnapshot(id);
    this.expiryHeldBy.delete(id);
    if (options.isExpiry === true) {
      this.record('snapshot.expired', current, at, `expired at ${current.expiresAt?.toISOString() ?? 'its expiry'}`);
    }
    this.record('snapshot.deleted', current, at, options.isExpiry === true ? 'deleted at its expiry' : 'deleted');
    return { snapshot: structuredClone(current), copies };
  }

  async listExpired(at: Date, limit: number): Promise<Snapshot[]> {
    return [...this.store.snapshots.values()]
      .filter((s) => s.expiresAt !== null && s.expiresAt.getTime() <= at.getTime() && s.state !== 'creating')
      .filter((s) => !this.expiryHeldBy.has(s.id) || !this.isStillHeld(s.id))
      .sort((a, b) => b.chainDepth - a.chainDepth || a.expiresAt!.getTime() - b.expiresAt!.getTime() || (a.id < b.id ? -1 : 1))
      .slice(0, limit)
      .map((s) => structuredClone(s));
  }

  /** Whatever would keep its removal waiting: holders, or a diff on top of it. */
  private isStillHeld(id: SnapshotId): boolean {
    const holders = this.store.holdersOf(id);
    return (
      holders.vmIds.length + holders.mergeIds.length + holders.templateIds.length > 0 ||
      [...this.store.snapshots.values()].some((other) => other.parentId === id)
    );
  }

  async holdExpiry(id: SnapshotId, heldBy: string, at: Date, message: string): Promise<boolean> {
    const snapshot = this.store.snapshots.get(id);
    if (snapshot === undefined || this.expiryHeldBy.get(id) === heldBy) return false;
    this.expiryHeldBy.set(id, heldBy);
    this.record('snapshot.expiry_held', snapshot, at, message);
    return true;
  }

  async setExpiry(id: SnapshotId, expiresAt: Date | null, at: Date): Promise<Snapshot> {
    const current = this.store.snapshots.get(id);
    if (current === undefined) throw snapshotNotFound(id);
    const changed: Snapshot = { ...current, expiresAt, updatedAt: at };
    this.store.snapshots.set(id, structuredClone(changed));
    this.expiryHeldBy.delete(id);
    this.record('snapshot.expiry_changed', changed, at, expiryChangeMessage(expiresAt));
    return structuredClone(changed);
  }

  async listCopies(id: SnapshotId): Promise<SnapshotCopy[]> {
    return this.copies().filter((copy) => copy.snapshotId === id);
  }

  async listCopiesOnHost(hostId: HostId): Promise<SnapshotCopy[]> {
    return this.copies().filter((copy) => copy.hostId === hostId);
  }

  async listAllCopies(): Promise<SnapshotCopy[]> {
    return this.copies().sort((a, b) =>
      a.snapshotId === b.snapshotId ? (a.hostId < b.hostId ? -1 : 1) : a.snapshotId < b.snapshotId ? -1 : 1,
    );
  }

  async startCopy(id: SnapshotId, hostId: HostId, at: Date): Promise<SnapshotCopy> {
    const snapshot = this.store.snapshots.get(id);
    if (snapshot === undefined) throw snapshotNotFound(id);
    const existing = this.store.snapshotCopies.get(`${id} ${hostId}`);
    if (existing !== undefined) return { ...existing };
    const copy: SnapshotCopy = { snapshotId: id, hostId, state: 'copying', createdAt: at, updatedAt: at };
    this.store.snapshotCopies.set(`${id} ${hostId}`, copy);
    this.record('snapshot.copy_started', snapshot, at, `copying to host ${hostId}`);
    return { ...copy };
  }

  async finishCopy(id: SnapshotId, hostId: HostId, at: Date): Promise<SnapshotCopy> {
    const snapshot = this.store.snapshots.get(id);
    const existing = this.store.snapshotCopies.get(`${id} ${hostId}`);
    if (snapshot === undefined || existing === undefined) throw snapshotNotFound(id);
    const copy: SnapshotCopy = { ...existing, state: 'ready', updatedAt: at };
    this.store.snapshotCopies.set(`${id} ${hostId}`, copy);
    if (existing.state !== 'ready') this.record('snapshot.copied', snapshot, at, `copied to host ${hostId}`);
    return { ...copy };
  }

  async removeCopy(id: SnapshotId, hostId: HostId, at: Date, why: string): Promise<void> {
    const snapshot = this.store.snapshots.get(id);
    if (snapshot === undefined || !this.store.snapshotCopies.delete(`${id} ${hostId}`)) return;
    this.record('snapshot.copy_removed', snapshot, at, `copy on host ${hostId} removed: ${why}`);
  }

  /** Copies whose snapshot is still there (the table's foreign key removes the others with it). */
  private copies(): SnapshotCopy[] {
    return [...this.store.snapshotCopies.values()]
      .filter((copy) => this.store.snapshots.has(copy.snapshotId))
      .map((copy) => ({ ...copy }))
      .sort((a, b) => (`${a.snapshotId} ${a.hostId}` < `${b.snapshotId} ${b.hostId}` ? -1 : 1));
  }

  private record(type: string, snapshot: Snapshot, at: Date, message: string): void {
    this.store.recordEvent({
      type,
      vmId: snapshot.vmId,
      hostId: snapshot.hostId,
      project: snapshot.project,
      objectId: snapshot.id,
      at,
      fromState: null,
      toState: null,
      message,
    });
  }
}
