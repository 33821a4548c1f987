/** One resync being timed: `done()` once its work is queued. */
export interface ResyncTiming {
  done(): void;
}

/**
 * What each of the leader's full resyncs costs (wall time and this process's CPU time), for the
 * operator's dashboards and the scale harness. An implementation must not block.
 */
export interface ResyncMetrics {
  startResync(): ResyncTiming;
}
