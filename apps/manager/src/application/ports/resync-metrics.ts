/** One resync being timed: `done()` once its work is queued, with how it had each host's inventory. */
export interface ResyncTiming {
  done(inventories?: { readonly inventoriesRead: number; readonly inventoriesHeld: number }): void;
}

/**
 * What each of the leader's full resyncs costs (wall time and this process's CPU time), for the
 * operator's dashboards and the scale harness. An implementation must not block.
 */
export interface ResyncMetrics {
  startResync(): ResyncTiming;
}
