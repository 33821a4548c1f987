import type { VmId } from '../../domain/ids.js';
import type { Vm } from '../../domain/vm.js';

/**
 * The in-memory VM rows, each stamped with the write that changed it last, and the deleted ones
 * with their deletion's: what PostgreSQL's transaction ids give the resync's read of what changed.
 * Writes are numbered one after another (there are no concurrent transactions here), so the next
 * number is a watermark that misses nothing written after it was taken.
 */
export class VmRows extends Map<VmId, Vm> {
  private lastWrite = 0;
  private readonly writes = new Map<VmId, number>();
  private readonly deletions = new Map<VmId, number>();

  override set(id: VmId, vm: Vm): this {
    super.set(id, vm);
    this.touch(id);
    return this;
  }

  override delete(id: VmId): boolean {
    if (!super.delete(id)) return false;
    this.lastWrite += 1;
    this.writes.delete(id);
    this.deletions.set(id, this.lastWrite);
    return true;
  }

  /** A write to the row's columns kept outside the record (its retry state): the row counts as written. */
  touch(id: VmId): void {
    if (!this.has(id)) return;
    this.lastWrite += 1;
    this.writes.set(id, this.lastWrite);
  }

  /** Answers writes from now on (see `writtenSince`). */
  watermark(): number {
    return this.lastWrite + 1;
  }

  /** Whether the row was last written at or after `watermark`. */
  writtenSince(id: VmId, watermark: number): boolean {
    return (this.writes.get(id) ?? 0) >= watermark;
  }

  /** The rows deleted at or after `watermark`, by id. */
  deletedSince(watermark: number): VmId[] {
    return [...this.deletions]
      .filter(([, deletedAt]) => deletedAt >= watermark)
      .map(([id]) => id)
      .sort();
  }

  forgetDeletionsBefore(watermark: number): void {
    for (const [id, deletedAt] of this.deletions) if (deletedAt < watermark) this.deletions.delete(id);
  }
}
