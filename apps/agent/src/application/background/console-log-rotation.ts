import type { AgentContext } from '../agent-context.js';
import type { TimerHandle, Timers } from '../ports/timers.js';
import type { VmRecord } from '../../domain/vm-record.js';
import { consoleLogToWatch, isConsoleLogRotationDue, rotateConsoleLog } from '../use-cases/read-console-log.js';

/**
 * Keeps every running VM's serial console log under its cap whether or not anyone reads it: on a
 * timer, each log that outgrew the cap is rotated (copy-truncate). Between two passes a guest can
 * add what it prints in one interval, so at most twice the cap plus that stays on disk per VM.
 */
export class ConsoleLogRotation {
  private timer: TimerHandle | undefined;
  private isStopped = true;
  /**
   * The log each record's VM is judged by, kept per record object (a saved change is a new one):
   * a pass over an unchanged host works out no VM's paths again.
   */
  private readonly watched = new WeakMap<VmRecord, string | null>();

  constructor(
    private readonly context: AgentContext,
    private readonly timers: Timers,
    private readonly intervalMs: number,
  ) {}

  start(): void {
    if (!this.isStopped) return;
    this.isStopped = false;
    this.schedule();
  }

  stop(): void {
    this.isStopped = true;
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /**
   * One pass over the VMs whose VMM is recorded (a stopped VM's log does not grow). A log under its
   * cap costs one `stat`: the VM's lock and record are taken only for one that is due, and the
   * rotation checks again under the lock.
   */
  async rotateAll(): Promise<number> {
    let rotated = 0;
    for (const record of await this.context.records.list()) {
      if (record.process === null) continue;
      try {
        let logToWatch = this.watched.get(record);
        if (logToWatch === undefined) {
          logToWatch = consoleLogToWatch(this.context, record);
          this.watched.set(record, logToWatch);
        }
        if (!(await isConsoleLogRotationDue(this.context, record, logToWatch))) continue;
        if (await rotateConsoleLog(this.context, record.vmId)) rotated += 1;
      } catch (error) {
        this.context.log.warn({ vmId: record.vmId, err: error }, 'console log rotation failed');
      }
    }
    return rotated;
  }

  private schedule(): void {
    if (this.isStopped) return;
    this.timer = this.timers.setTimeout(() => {
      this.rotateAll().then(
        () => this.schedule(),
        (error: unknown) => {
          this.context.log.warn({ err: error }, 'console log rotation failed');
          this.schedule();
        },
      );
    }, this.intervalMs);
  }
}
