/**
 * Decides which Manager runs the reconciler when several share one database. Leadership is held
 * by a session (a PostgreSQL advisory lock on a dedicated connection): losing the session loses it.
 */
export interface LeaderElection {
  /**
   * Takes leadership when it is free, or checks that the session holding it is still alive.
   * Answers whether this Manager leads now. Never throws: an unreachable database means "no".
   */
  acquireOrConfirm(): Promise<boolean>;
  /**
   * Waits until leadership is free and takes it: true once this Manager leads, false when the wait
   * ended without it (released, or its session lost: the next `acquireOrConfirm` may try again).
   * Lets a follower take over the moment the leader's session ends instead of at its next try.
   * Absent where nothing is ever waited for (a single process always leads).
   */
  awaitLeadership?(): Promise<boolean>;
  /** Gives leadership up (closes the session, and ends a wait for it). */
  release(): Promise<void>;
}
