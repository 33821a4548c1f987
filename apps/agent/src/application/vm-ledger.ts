import { newVmRecord, unreadableRecordError, updateRecord, vmNotFoundError, type VmRecord } from '../domain/vm-record.js';
import { vmPaths } from '../domain/vm-paths.js';
import type { VmId } from '../domain/vm-id.js';
import type { AgentContext } from './agent-context.js';

export type RecordChange = Parameters<typeof updateRecord>[1];

interface PendingBatch {
  readonly changes: RecordChange[];
  saved: Promise<VmRecord>;
}

/** The current record of one VM; every `commit` is saved before the caller's next side effect. */
export class VmLedger {
  private current: VmRecord;
  /** Commits run one after another, each on top of the latest record, even when steps overlap. */
  private queue: Promise<unknown> = Promise.resolve();
  /** Changes waiting for the next save (which starts when the one in flight ends). */
  private pending: PendingBatch | null = null;
  /** Changes noted (`note`) and not saved yet, in order. */
  private noted: RecordChange[] = [];
  /** The record with the noted changes applied; null when nothing is noted. */
  private shown: VmRecord | null = null;

  private constructor(
    private readonly context: AgentContext,
    record: VmRecord,
  ) {
    this.current = record;
  }

  /**
   * The VM's ledger, its record created when there is none. With `change`, the record is saved
   * with it applied: one write for a new record instead of two.
   */
  static async openOrCreate(context: AgentContext, vmId: VmId, change?: RecordChange): Promise<VmLedger> {
    const existing = await context.records.get(vmId);
    if (existing !== undefined) {
      const ledger = new VmLedger(context, existing);
      if (change !== undefined) await ledger.commit(change);
      return ledger;
    }
    const now = context.clock.now();
    const created = newVmRecord(vmId, vmPaths(context.settings.runDir, vmId).directory, now);
    const record = change === undefined ? created : updateRecord(created, change, now);
    await context.records.save(record);
    return new VmLedger(context, record);
  }

  /**
   * A new VM's ledger whose directory is made from `directory` (a warm VMM's, which becomes the
   * VM's with its first record); undefined, and nothing recorded, when the VM has a record or a
   * directory already.
   */
  static async createFrom(
    context: AgentContext,
    vmId: VmId,
    change: RecordChange,
    directory: string,
  ): Promise<VmLedger | undefined> {
    const now = context.clock.now();
    const record = updateRecord(newVmRecord(vmId, vmPaths(context.settings.runDir, vmId).directory, now), change, now);
    return (await context.records.createFrom(record, directory)) ? new VmLedger(context, record) : undefined;
  }

  /**
   * The ledger of a VM that has a record (`existing`), its directory replaced by `directory` (a warm
   * VMM's) with `change` applied to its record: see `VmRecordStore.moveInto`.
   */
  static async moveInto(
    context: AgentContext,
    existing: VmRecord,
    change: RecordChange,
    directory: string,
    renamed?: ReadonlyMap<string, string>,
  ): Promise<VmLedger> {
    const record = updateRecord(existing, change, context.clock.now());
    await context.records.moveInto(record, directory, renamed);
    return new VmLedger(context, record);
  }

  static async open(context: AgentContext, vmId: VmId): Promise<VmLedger> {
    const existing = await context.records.get(vmId);
    if (existing !== undefined) return new VmLedger(context, existing);
    const unreadable = (await context.records.unreadable()).find((entry) => entry.vmId === vmId);
    if (unreadable !== undefined) throw unreadableRecordError(unreadable);
    throw vmNotFoundError(vmId);
  }

  /** The record as saved, with any change noted since applied. */
  get record(): VmRecord {
    return this.shown ?? this.current;
  }

  /**
   * Applies `change` to `record` at once and saves it with the next commit, not before: for a
   * side effect that, if a crash loses its record, the step taken up again finds done and takes as
   * done (Firecracker refusing metrics it already has), or does again (a fresh VM's disk copy,
   * saved with the process of the VMM that opens it). It saves a durable write.
   */
  note(change: RecordChange): void {
    this.noted.push(change);
    this.shown = updateRecord(this.record, change, this.context.clock.now());
  }

  /**
   * Applies `change` and resolves once a save that includes it has completed. Changes that arrive
   * while a save is in flight (tap, rootfs and spawn overlap) are folded into one next save: the
   * record is written once for all of them, and still before any of their callers goes on.
   */
  commit(change: RecordChange): Promise<VmRecord> {
    if (this.pending === null) {
      const batch: PendingBatch = { changes: [], saved: undefined as unknown as Promise<VmRecord> };
      this.pending = batch;
      batch.saved = this.queue.then(
        () => this.save(batch),
        () => this.save(batch),
      );
      this.queue = batch.saved.catch(() => undefined);
    }
    this.pending.changes.push(change);
    return this.pending.saved;
  }

  private async save(batch: PendingBatch): Promise<VmRecord> {
    // Changes stop joining this batch once its save starts.
    if (this.pending === batch) this.pending = null;
    const noted = this.noted;
    this.noted = [];
    const now = this.context.clock.now();
    const apply = (record: VmRecord, change: RecordChange): VmRecord => updateRecord(record, change, now);
    const next = batch.changes.reduce(apply, noted.reduce(apply, this.current));
    try {
      await this.context.records.save(next);
    } catch (error) {
      this.noted = [...noted, ...this.noted];
      throw error;
    }
    this.current = next;
    // Changes noted while the save was in flight wait for the next one.
    this.shown = this.noted.length === 0 ? null : this.noted.reduce(apply, next);
    return next;
  }
}
