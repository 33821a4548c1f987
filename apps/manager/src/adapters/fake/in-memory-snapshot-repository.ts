import { AppError } from '@hearth/errors';
import type {
  SnapshotFilter,
  SnapshotOutcome,
  SnapshotPage,
  SnapshotRepository,
} from '../../application/ports/snapshot-repository.js';
import { canSeeProject } from '../../domain/access.js';
import type { HostId, SnapshotId } from '../../domain/ids.js';
import { snapshotNotFound, type Snapshot, type SnapshotCopy } from '../../domain/snapshot.js';
import type { Store } from './in-memory-store.js';

export class InMemorySnapshotRepository implements SnapshotRepository {
  constructor(private readonly store: Store) {}

  async insert(snapshot: Snapshot): Promise<void> {
    if (this.store.snapshots.has(snapshot.id)) throw new Error(`duplicate snapshot id ${snapshot.id}`);
    // Like the foreign key of the real table.
    if (!this.store.vms.has(snapshot.vmId)) throw new AppError('VM_NOT_FOUND', `No VM with id ${snapshot.vmId}`);
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
      .filter((s) => page.afterId === undefined || s.id > page.afterId)
      .sort((a, b) => (a.id < b.id ? -1 : 1));
    const items = matching.slice(0, page.limit).map((s) => structuredClone(s));
    const last = items.at(-1);
    return { items, nextCursor: matching.length > page.limit && last !== undefined ? last.id : null };
  }

  async delete(id: SnapshotId, at: Date): Promise<void> {
    const current = this.store.snapshots.get(id);
    if (current === undefined) throw snapshotNotFound(id);
    this.store.removeSnapshot(id);
    this.record('snapshot.deleted', current, at, 'deleted');
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
