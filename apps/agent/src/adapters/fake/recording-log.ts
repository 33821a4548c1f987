import type { AgentLog } from '../../application/ports/agent-log.js';

export interface LogEntry {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly fields: object;
  readonly message: string;
}

/** Keeps log lines in memory for assertions. */
export class RecordingLog implements AgentLog {
  readonly entries: LogEntry[] = [];
  debug(fields: object, message: string): void {
    this.entries.push({ level: 'debug', fields, message });
  }
  info(fields: object, message: string): void {
    this.entries.push({ level: 'info', fields, message });
  }
  warn(fields: object, message: string): void {
    this.entries.push({ level: 'warn', fields, message });
  }
  error(fields: object, message: string): void {
    this.entries.push({ level: 'error', fields, message });
  }
}
