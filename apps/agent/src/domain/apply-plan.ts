import type { StepName, VmSpec } from '@hearth/contracts';

/** The steps of `PUT /vms/:id`, in the order they run. Firecracker's logger and metrics come first. */
export function applyPlan(spec: Pick<VmSpec, 'isMetricsEnabled'>): StepName[] {
  return [
    'tap',
    'rootfs',
    'spawn',
    'logger',
    ...(spec.isMetricsEnabled ? (['metrics'] as const) : []),
    'machine-config',
    'boot-source',
    'drives',
    'network',
    'start',
  ];
}
