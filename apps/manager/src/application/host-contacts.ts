import type { Host, LastAnswerOf } from '../domain/host.js';

/**
 * When each host's Agent last answered this Manager, by Agent address: any answer to any call, an
 * error included, as long as the Agent itself answered it. Kept in memory by each Manager: it is
 * what this process saw, a sign of life beside the heartbeats that the database holds.
 */
export class HostContacts {
  private readonly lastAnswerMs = new Map<string, number>();

  answered(addr: string, at: Date): void {
    const previous = this.lastAnswerMs.get(addr) ?? 0;
    if (at.getTime() > previous) this.lastAnswerMs.set(addr, at.getTime());
  }

  readonly lastAnswerOf: LastAnswerOf = (host: Host) => {
    const ms = this.lastAnswerMs.get(host.addr);
    return ms === undefined ? undefined : new Date(ms);
  };
}
