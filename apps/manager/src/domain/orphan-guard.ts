/**
 * How many of a host's VMs one reconcile pass may remove as orphans (VMs its Agent holds that no
 * record of this cluster stands behind). Like Kubernetes' node lifecycle controller, which stops
 * evicting when too large a share of a zone looks unhealthy, a pass that would remove more than
 * `maxShare` of a host's VMs removes none: that many orphans at once means the Manager is more
 * likely looking at the wrong host or the wrong database (a restored backup, another cluster's
 * Agent) than at leftovers. A single orphan is always removed.
 */
export interface OrphanGuardPolicy {
  /** In (0, 1]: the largest share of a host's VMs removed in one pass. */
  readonly maxShare: number;
}

export const defaultOrphanGuardPolicy: OrphanGuardPolicy = Object.freeze({ maxShare: 0.5 });

export type OrphanRemovalDecision = { readonly kind: 'remove' } | { readonly kind: 'withhold'; readonly message: string };

export function decideOrphanRemoval(orphanCount: number, hostVmCount: number, policy: OrphanGuardPolicy): OrphanRemovalDecision {
  if (orphanCount <= 1 || orphanCount <= policy.maxShare * hostVmCount) return { kind: 'remove' };
  return {
    kind: 'withhold',
    message:
      `${orphanCount} of the ${hostVmCount} VMs on this host have no record in this cluster; more than ` +
      `${Math.round(policy.maxShare * 100)}% at once, so none are removed: check that the Agent and the Manager's ` +
      'database belong together, then delete the VMs that should go',
  };
}
