import type { ConsoleCloseReason } from '@hearth/contracts';
import { AppError } from '@hearth/errors';
import { vmPaths } from '../../domain/vm-paths.js';
import type { VmId } from '../../domain/vm-id.js';
import type { VmmProcessRecord } from '../../domain/vm-record.js';
import type { AgentContext } from '../agent-context.js';
import type { ConsoleFollow, ConsoleInput, SerialConsoles } from '../ports/serial-consoles.js';
import type { TimerHandle, Timers } from '../ports/timers.js';
import { rotateConsoleLog } from './read-console-log.js';
import { VmLedger } from '../vm-ledger.js';

/** One attached client, as the transport (a WebSocket) offers it. */
export interface ConsoleClient {
  /** Sends serial output; never waits (what the network has not taken yet counts in `bufferedBytes`). */
  send(bytes: Uint8Array): void;
  /** Output sent to the client but not written to the network yet. */
  bufferedBytes(): number;
  /** Tells the client why, then closes it. Called at most once, and never after `detach`. */
  close(reason: ConsoleCloseReason): void;
}

/** An attached client's session: what it types, and its leaving. */
export interface ConsoleSession {
  /** Bytes typed by the client, for the guest's serial input; false when they were dropped. */
  type(bytes: Uint8Array): boolean;
  /** The client left: stop following the log, close its input. */
  detach(): void;
}

export interface ConsoleAttachmentSettings {
  /** Clients attached to one VM at once; one more replaces the oldest. */
  readonly maxClientsPerVm: number;
  /** Output a client may leave unread before it is dropped (`too_slow`): never buffered without bound. */
  readonly maxBufferedBytes: number;
  /** How often attached VMs are checked for a VMM that ended or was replaced. */
  readonly liveCheckIntervalMs: number;
}

export const defaultConsoleAttachmentSettings: ConsoleAttachmentSettings = Object.freeze({
  maxClientsPerVm: 4,
  maxBufferedBytes: 1024 * 1024,
  liveCheckIntervalMs: 1_000,
});

interface Attachment {
  readonly vmId: VmId;
  readonly process: VmmProcessRecord;
  readonly client: ConsoleClient;
  follow: ConsoleFollow | undefined;
  input: ConsoleInput | undefined;
  isEnded: boolean;
}

/**
 * Clients attached to VMs' serial consoles: each gets the end of the log, then live output, and
 * types into the VMM's stdin FIFO. Bounded per VM (the oldest is replaced) and per client (a slow
 * reader is dropped). An attachment ends when the VMM it was made with is gone.
 */
export class ConsoleAttachments {
  private readonly byVm = new Map<VmId, Attachment[]>();
  private timer: TimerHandle | undefined;

  constructor(
    private readonly context: AgentContext,
    private readonly consoles: SerialConsoles,
    private readonly timers: Timers,
    private readonly settings: ConsoleAttachmentSettings = defaultConsoleAttachmentSettings,
  ) {}

  /** VM_NOT_FOUND without a record, VMM_NOT_RUNNING without a live VMM: checked before a client is accepted. */
  async check(vmId: VmId): Promise<VmmProcessRecord> {
    const ledger = await VmLedger.open(this.context, vmId);
    const process = ledger.record.process;
    if (process === null || !(await this.context.vmm.isAlive(process))) {
      throw new AppError('VMM_NOT_RUNNING', `The Firecracker process of VM ${vmId} is not running`, { details: { vmId } });
    }
    return process;
  }

  /** Attaches `client` with the last `backlogBytes` of the log; fails as `check` does. */
  async attach(vmId: VmId, backlogBytes: number, client: ConsoleClient): Promise<ConsoleSession> {
    const process = await this.check(vmId);
    await rotateConsoleLog(this.context, vmId);
    const paths = vmPaths(this.context.settings.runDir, vmId);
    const record = (await this.context.records.get(vmId)) ?? null;
    const fifoPath = record?.consoleFifoPath ?? null;
    const attachment: Attachment = { vmId, process, client, follow: undefined, input: undefined, isEnded: false };
    attachment.input = fifoPath === null ? undefined : await this.consoles.openInput(fifoPath);
    try {
      attachment.follow = await this.consoles.follow(
        { logPath: paths.stdoutLog, rotatedPath: paths.stdoutLogRotated },
        backlogBytes,
        (bytes) => this.deliver(attachment, bytes),
      );
    } catch (error) {
      attachment.input?.close();
      throw error;
    }
    if (attachment.isEnded) {
      attachment.follow.close();
      attachment.input?.close();
    } else {
      this.add(attachment);
    }
    return {
      type: (bytes) => !attachment.isEnded && attachment.input !== undefined && attachment.input.write(bytes),
      detach: () => this.end(attachment),
    };
  }

  /** Ends every attachment of the VM (it was stopped or deleted). */
  closeVm(vmId: VmId, reason: ConsoleCloseReason): void {
    for (const attachment of [...(this.byVm.get(vmId) ?? [])]) this.end(attachment, reason);
  }

  /** Ends every attachment (the Agent is stopping). */
  closeAll(reason: ConsoleCloseReason): void {
    for (const vmId of [...this.byVm.keys()]) this.closeVm(vmId, reason);
  }

  /** Clients attached to the VM now. */
  countOf(vmId: VmId): number {
    return this.byVm.get(vmId)?.length ?? 0;
  }

  /** Ends the attachments whose VMM is gone or was replaced by another process. */
  async checkLiveness(): Promise<void> {
    for (const [vmId, attachments] of [...this.byVm]) {
      const record = await this.context.records.get(vmId);
      const current = record?.process ?? null;
      const isAlive = current !== null && (await this.context.vmm.isAlive(current));
      for (const attachment of attachments) {
        const isSame =
          current !== null && current.pid === attachment.process.pid && current.startTime === attachment.process.startTime;
        if (!isAlive || !isSame) this.end(attachment, 'vm_stopped');
      }
    }
  }

  private deliver(attachment: Attachment, bytes: Uint8Array): void {
    if (attachment.isEnded) return;
    if (attachment.client.bufferedBytes() + bytes.length > this.settings.maxBufferedBytes) {
      this.end(attachment, 'too_slow');
      return;
    }
    attachment.client.send(bytes);
  }

  private add(attachment: Attachment): void {
    const attachments = [...(this.byVm.get(attachment.vmId) ?? []), attachment];
    this.byVm.set(attachment.vmId, attachments);
    const excess = attachments.length - this.settings.maxClientsPerVm;
    for (const oldest of attachments.slice(0, Math.max(0, excess))) this.end(oldest, 'replaced');
    this.scheduleCheck();
  }

  /** Ends an attachment once; with a reason the client is told and closed (without, it left itself). */
  private end(attachment: Attachment, reason?: ConsoleCloseReason): void {
    if (attachment.isEnded) return;
    attachment.isEnded = true;
    attachment.follow?.close();
    attachment.input?.close();
    const attachments = (this.byVm.get(attachment.vmId) ?? []).filter((other) => other !== attachment);
    if (attachments.length === 0) this.byVm.delete(attachment.vmId);
    else this.byVm.set(attachment.vmId, attachments);
    if (reason !== undefined) attachment.client.close(reason);
    if (this.byVm.size === 0 && this.timer !== undefined) {
      this.timers.clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  private scheduleCheck(): void {
    if (this.timer !== undefined) return;
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined;
      void this.checkLiveness()
        .catch((error: unknown) => this.context.log.warn({ err: error }, 'console liveness check failed'))
        .finally(() => {
          if (this.byVm.size > 0) this.scheduleCheck();
        });
    }, this.settings.liveCheckIntervalMs);
  }
}
