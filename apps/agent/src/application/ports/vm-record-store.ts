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
  /**
   * Saves a new VM's first record into `directory` (the Agent's, outside the VMs' directories) and
   * renames that directory to be the VM's, atomically and durably: the VM's directory appears with
   * its record and with the files that were in `directory` (a warm VMM's, whose socket, open files
   * and working directory move with it). False, and `directory` left as it was but for the record,
   * when the VM has a record or a directory already.
   */
  createFrom(record: VmRecord, directory: string): Promise<boolean>;
  /**
   * Makes `directory` (a warm VMM's, outside the VMs' directories) the directory of a VM that has a
   * record: the files of the VM's directory that `directory` lacks by name are carried over (regular
   * files and FIFOs, each as a second name of the same file: a memory file mapped or a FIFO held open
   * stays the one it was), `record` is saved there, flushed, and `directory` takes the name of the
   * VM's directory, whose old one is removed with what was not carried (the socket, logs and FIFO of
   * the VMM that ran there: `directory` has its own). `renamed` carries a file under another name
   * (before the others, and only when `directory` lacks that name too). The VM's directory holds a
   * whole record at every instant but one, between two renames, which the next `loadAll` completes
   * or undoes.
   */
  moveInto(record: VmRecord, directory: string, renamed?: ReadonlyMap<string, string>): Promise<void>;
  /** Forgets the record and removes its directory. VM_RECORD_UNREADABLE for an unreadable record. */
  remove(vmId: VmId): Promise<void>;
}
