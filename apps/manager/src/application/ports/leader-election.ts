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
  /** Gives leadership up (closes the session). */
  release(): Promise<void>;
}
