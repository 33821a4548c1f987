import type { StepName } from '@hearth/contracts';

/**
 * What starting VMs on hosts costs, for the operator's dashboards. Called once per apply, after
 * its outcome is recorded; an implementation must not block and must keep its label values bounded.
 */
export interface VmStartMetrics {
  /** A VM reached `running` for the first time, `durationMs` after it was accepted. */
  created(durationMs: number): void;
  /** An apply on a host succeeded: each host step with its duration, and the whole apply. */
  applied(steps: readonly { readonly name: StepName; readonly durationMs: number }[], totalMs: number): void;
  /** An apply failed with this error code (one of the registry's, so a bounded set). */
  failed(code: string): void;
}

/** Metrics that go nowhere: for tests and callers that do not export any. */
export const noVmStartMetrics: VmStartMetrics = {
  created: () => undefined,
  applied: () => undefined,
  failed: () => undefined,
};
