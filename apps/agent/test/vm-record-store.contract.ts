import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { VmRecordStore } from '../src/application/ports/vm-record-store.js';
import { parseVmId, type VmId } from '../src/domain/vm-id.js';
import { AppError } from '@hearth/errors';
import { newVmRecord, updateRecord } from '../src/domain/vm-record.js';

export interface VmRecordStoreHarness {
  readonly runDir: string;
  readonly store: VmRecordStore;
  /** A new store over the same storage, as after an Agent restart. */
  reopen(): VmRecordStore;
  directoryExists(path: string): Promise<boolean>;
  /** Writes a file (and its directory) outside the store, as a warm VMM's directory holds its files. */
  putFile(path: string, content: string): Promise<void>;
  /** A file's content, or undefined when there is none. */
  read(path: string): Promise<string | undefined>;
  /** Leaves the VM's stored record unreadable (a torn write), as found by the next `loadAll`. */
  tearRecord(vmId: VmId, directory: string): Promise<void>;
  cleanup(): Promise<void>;
}

const vmId = parseVmId('vm_01JABCDEFGHJKMNPQRSTVWXYZ0');
const now = new Date('2025-01-01T00:00:00Z');

/** One behaviour suite for every VmRecordStore. */
export function describeVmRecordStoreContract(name: string, createHarness: () => Promise<VmRecordStoreHarness>): void {
  describe(`VmRecordStore contract: ${name}`, () => {
    let harness: VmRecordStoreHarness;

    beforeEach(async () => {
      harness = await createHarness();
      await harness.store.loadAll();
    });

    afterEach(async () => {
      await harness?.cleanup();
    });

    it('returns a saved record and lists it', async () => {
      const record = newVmRecord(vmId, `${harness.runDir}/vms/${vmId}`, now);

      await harness.store.save(record);

      expect(await harness.store.get(vmId)).toEqual(record);
      expect(await harness.store.list()).toEqual([record]);
    });

    it('replaces a record on a later save', async () => {
      const record = newVmRecord(vmId, `${harness.runDir}/vms/${vmId}`, now);
      await harness.store.save(record);
      const updated = updateRecord(record, { tap: { name: 'fcx', bridge: 'fcbr0' } }, now);

      await harness.store.save(updated);

      expect((await harness.store.get(vmId))?.tap).toEqual({ name: 'fcx', bridge: 'fcbr0' });
      expect(await harness.store.list()).toHaveLength(1);
    });

    it('keeps records across a restart', async () => {
      const record = newVmRecord(vmId, `${harness.runDir}/vms/${vmId}`, now);
      await harness.store.save(record);

      const reopened = harness.reopen();

      expect(await reopened.loadAll()).toEqual([record]);
    });

    it("creates a VM's directory from another directory with its first record, the files there with it", async () => {
      const record = newVmRecord(vmId, `${harness.runDir}/vms/${vmId}`, now);
      const warm = `${harness.runDir}/vmm-pool/w1`;
      await harness.putFile(`${warm}/firecracker.log`, 'Running Firecracker v1.16.1\n');

      expect(await harness.store.createFrom(record, warm)).toBe(true);

      expect(await harness.store.get(vmId)).toEqual(record);
      expect(await harness.read(`${record.directory}/firecracker.log`)).toBe('Running Firecracker v1.16.1\n');
      expect(await harness.directoryExists(warm)).toBe(false);
      const reopened = harness.reopen();
      expect(await reopened.loadAll()).toEqual([record]);
      // Saved again as any record is.
      const updated = updateRecord(record, { lifecycle: 'running' }, now);
      await reopened.save(updated);
      expect(await harness.reopen().loadAll()).toEqual([updated]);
    });

    it("refuses to create a VM's directory from another when the VM has one, or a record, moving nothing", async () => {
      const record = newVmRecord(vmId, `${harness.runDir}/vms/${vmId}`, now);
      const warm = `${harness.runDir}/vmm-pool/w2`;
      await harness.putFile(`${warm}/stdout.log`, 'warm');
      await harness.putFile(`${record.directory}/rootfs.ext4`, 'disk');

      expect(await harness.store.createFrom(record, warm)).toBe(false);
      expect(await harness.store.get(vmId)).toBeUndefined();
      expect(await harness.read(`${warm}/stdout.log`)).toBe('warm');
      expect(await harness.read(`${record.directory}/stdout.log`)).toBeUndefined();

      const other = parseVmId('vm_01JABCDEFGHJKMNPQRSTVWXYZ1');
      const saved = newVmRecord(other, `${harness.runDir}/vms/${other}`, now);
      await harness.store.save(saved);
      expect(await harness.store.createFrom(saved, warm)).toBe(false);
      expect(await harness.read(`${warm}/stdout.log`)).toBe('warm');
    });

    it("replaces a VM's directory by another, carrying over the files the other lacks, the record saved there", async () => {
      const record = newVmRecord(vmId, `${harness.runDir}/vms/${vmId}`, now);
      await harness.store.save(record);
      await harness.putFile(`${record.directory}/rootfs.ext4`, 'disk');
      await harness.putFile(`${record.directory}/snap_1.memory`, 'memory');
      await harness.putFile(`${record.directory}/firecracker.log`, 'the stopped VMM');
      await harness.putFile(`${record.directory}/stdout.log.1`, 'the console, older');
      await harness.putFile(`${record.directory}/stdout.log`, 'the console until now');
      const warm = `${harness.runDir}/vmm-pool/w3`;
      await harness.putFile(`${warm}/firecracker.log`, 'Running Firecracker v1.16.1\n');
      await harness.putFile(`${warm}/stdout.log`, '');
      const updated = updateRecord(record, { lifecycle: 'applying' }, now);

      await harness.store.moveInto(updated, warm, new Map([['stdout.log', 'stdout.log.1']]));

      expect(await harness.store.get(vmId)).toEqual(updated);
      expect(await harness.read(`${record.directory}/rootfs.ext4`)).toBe('disk');
      expect(await harness.read(`${record.directory}/snap_1.memory`)).toBe('memory');
      expect(await harness.read(`${record.directory}/firecracker.log`)).toBe('Running Firecracker v1.16.1\n');
      // Carried under another name, before the file that had that name.
      expect(await harness.read(`${record.directory}/stdout.log.1`)).toBe('the console until now');
      expect(await harness.read(`${record.directory}/stdout.log`)).toBe('');
      expect(await harness.directoryExists(warm)).toBe(false);
      const reopened = harness.reopen();
      expect(await reopened.loadAll()).toEqual([updated]);
      const running = updateRecord(updated, { lifecycle: 'running' }, now);
      await reopened.save(running);
      expect(await harness.reopen().loadAll()).toEqual([running]);
    });

    it('moves no directory into a VM that has no record', async () => {
      const record = newVmRecord(vmId, `${harness.runDir}/vms/${vmId}`, now);
      const warm = `${harness.runDir}/vmm-pool/w4`;
      await harness.putFile(`${warm}/stdout.log`, 'warm');

      await expect(harness.store.moveInto(record, warm)).rejects.toThrow(/no record/);
      expect(await harness.read(`${warm}/stdout.log`)).toBe('warm');
      expect(await harness.store.get(vmId)).toBeUndefined();
    });

    it('forgets a removed record and removes its directory', async () => {
      const record = newVmRecord(vmId, `${harness.runDir}/vms/${vmId}`, now);
      await harness.store.save(record);

      await harness.store.remove(vmId);

      expect(await harness.store.get(vmId)).toBeUndefined();
      expect(await harness.directoryExists(record.directory)).toBe(false);
      expect(await harness.reopen().loadAll()).toEqual([]);
    });

    it('sets an unreadable record aside: not listed, reported, its directory kept', async () => {
      const record = newVmRecord(vmId, `${harness.runDir}/vms/${vmId}`, now);
      await harness.store.save(record);
      await harness.tearRecord(vmId, record.directory);

      const reopened = harness.reopen();

      expect(await reopened.loadAll()).toEqual([]);
      expect(await reopened.get(vmId)).toBeUndefined();
      expect(await reopened.unreadable()).toEqual([expect.objectContaining({ vmId, directory: record.directory })]);
      expect(await harness.directoryExists(record.directory)).toBe(true);
    });

    it('never writes over or removes an unreadable record', async () => {
      const record = newVmRecord(vmId, `${harness.runDir}/vms/${vmId}`, now);
      await harness.store.save(record);
      await harness.tearRecord(vmId, record.directory);
      const reopened = harness.reopen();
      await reopened.loadAll();

      await expect(reopened.save(record)).rejects.toSatisfy(
        (error) => error instanceof AppError && error.code === 'VM_RECORD_UNREADABLE',
      );
      await expect(reopened.remove(vmId)).rejects.toSatisfy(
        (error) => error instanceof AppError && error.code === 'VM_RECORD_UNREADABLE',
      );
      expect(await harness.directoryExists(record.directory)).toBe(true);
    });
  });
}
