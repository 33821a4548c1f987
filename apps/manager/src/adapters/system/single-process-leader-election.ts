import type { LeaderElection } from '../../application/ports/leader-election.js';

/**
 * For embedded PGlite: one process owns the database, so it always leads. It still goes through
 * the LeaderElection port, like the PostgreSQL advisory lock.
 */
export class SingleProcessLeaderElection implements LeaderElection {
  private isReleased = false;

  async acquireOrConfirm(): Promise<boolean> {
    return !this.isReleased;
  }

  async release(): Promise<void> {
    this.isReleased = true;
  }
}
