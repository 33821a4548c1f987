/** Limits on what one project may hold at once; an undefined limit is no limit. */
export interface ProjectQuota {
  readonly maxVms: number | undefined;
  readonly maxVcpus: number | undefined;
  readonly maxMemoryMib: number | undefined;
}

/** What a project's VMs hold now, counted against its quota. */
export interface ProjectUsage {
  readonly vms: number;
  readonly vcpus: number;
  readonly memoryMib: number;
}

/**
 * A tenant's space: images, VMs, their events (and later templates and snapshots) belong to one
 * project, and tokens bound to other projects cannot see them. Projects are named, and the name is
 * their identity.
 */
export interface Project {
  readonly name: string;
  readonly quota: ProjectQuota;
  readonly createdAt: Date;
}

export const unlimitedQuota: ProjectQuota = Object.freeze({ maxVms: undefined, maxVcpus: undefined, maxMemoryMib: undefined });

/** Whether the quota sets any limit: a project without one has nothing its creates could pass. */
export function isLimited(quota: ProjectQuota): boolean {
  return quota.maxVms !== undefined || quota.maxVcpus !== undefined || quota.maxMemoryMib !== undefined;
}

export const projectNamePattern = '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$';

/** The limits `usage` plus `adding` would pass, with the numbers; empty when it fits. */
export function quotaOverruns(
  quota: ProjectQuota,
  usage: ProjectUsage,
  adding: ProjectUsage,
): ReadonlyArray<{
  readonly resource: 'vms' | 'vcpus' | 'memoryMib';
  readonly limit: number;
  readonly used: number;
  readonly requested: number;
}> {
  const checks = [
    { resource: 'vms', limit: quota.maxVms, used: usage.vms, requested: adding.vms },
    { resource: 'vcpus', limit: quota.maxVcpus, used: usage.vcpus, requested: adding.vcpus },
    { resource: 'memoryMib', limit: quota.maxMemoryMib, used: usage.memoryMib, requested: adding.memoryMib },
  ] as const;
  return checks.flatMap((check) =>
    check.limit !== undefined && check.used + check.requested > check.limit
      ? [{ resource: check.resource, limit: check.limit, used: check.used, requested: check.requested }]
      : [],
  );
}
