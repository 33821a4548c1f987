import type { VmRecord } from '../../domain/vm-record.js';
import type { VmId } from '../../domain/vm-id.js';

/** Where each VM's ledger lives. `save` is atomic and durable before it resolves. */
export interface VmRecordStore {
  /** Reads every record from storage (at start); later reads are served from memory. */
  loadAll(): Promise<VmRecord[]>;
  get(vmId: VmId): Promise<VmRecord | undefined>;
  list(): Promise<VmRecord[]>;
  /** Writes the record atomically, creating its directory (mode 0700) if needed. */
  save(record: VmRecord): Promise<void>;
  /** Forgets the record and removes its directory. */
  remove(vmId: VmId): Promise<void>;
}
