import { AppError } from '@hearth/errors';
import { newVmRecord, updateRecord, type VmRecord } from '../domain/vm-record.js';
import { vmPaths } from '../domain/vm-paths.js';
import type { VmId } from '../domain/vm-id.js';
import type { AgentContext } from './agent-context.js';

type RecordChange = Parameters<typeof updateRecord>[1];

/** The current record of one VM; every `commit` is saved before the caller's next side effect. */
export class VmLedger {
  private current: VmRecord;
  /** Commits run one after another, each on top of the latest record, even when steps overlap. */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly context: AgentContext,
    record: VmRecord,
  ) {
    this.current = record;
  }

  static async openOrCreate(context: AgentContext, vmId: VmId): Promise<VmLedger> {
    const existing = await context.records.get(vmId);
    if (existing !== undefined) return new VmLedger(context, existing);
    const record = newVmRecord(vmId, vmPaths(context.settings.runDir, vmId).directory, context.clock.now());
    await context.records.save(record);
    return new VmLedger(context, record);
  }

  static async open(context: AgentContext, vmId: VmId): Promise<VmLedger> {
    const existing = await context.records.get(vmId);
    if (existing === undefined)
      throw new AppError('VM_NOT_FOUND', `This Agent has no record of VM ${vmId}`, { details: { vmId } });
    return new VmLedger(context, existing);
  }

  get record(): VmRecord {
    return this.current;
  }

  commit(change: RecordChange): Promise<VmRecord> {
    const write = async (): Promise<VmRecord> => {
      const next = updateRecord(this.current, change, this.context.clock.now());
      await this.context.records.save(next);
      this.current = next;
      return next;
    };
    const result = this.queue.then(write, write);
    this.queue = result.catch(() => undefined);
    return result;
  }
}
