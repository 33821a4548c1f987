import type { UnreadableVmRecord, VmRecord } from '../../domain/vm-record.js';
import type { VmId } from '../../domain/vm-id.js';

export type { UnreadableVmRecord } from '../../domain/vm-record.js';

/** Where each VM's ledger lives. `save` is atomic and durable before it resolves. */
export interface VmRecordStore {
  /** Reads every record from storage (at start); later reads are served from memory. */
  loadAll(): Promise<VmRecord[]>;
  get(vmId: VmId): Promise<VmRecord | undefined>;
  list(): Promise<VmRecord[]>;
  /** The VM directories `loadAll` found without a readable record, set aside (left untouched). */
  unreadable(): Promise<UnreadableVmRecord[]>;
  /**
   * Writes the record atomically and durably, creating its directory (mode 0700) if needed.
   * VM_RECORD_UNREADABLE when the VM's stored record is unreadable: it is never written over.
   */
  save(record: VmRecord): Promise<void>;
  /** Forgets the record and removes its directory. VM_RECORD_UNREADABLE for an unreadable record. */
  remove(vmId: VmId): Promise<void>;
}
