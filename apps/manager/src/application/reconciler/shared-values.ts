import type { AgentVm } from '@hearth/contracts';
import type { EgressPolicy } from '../../domain/egress.js';
import type { RateLimits } from '../../domain/rate-limits.js';
import type { RetryState } from '../../domain/reconcile-decision.js';

/** Distinct strings held at most; past it the table starts again (sharing is only a saving). */
const maxStrings = 50_000;

const noRateLimits: RateLimits = Object.freeze({});
const simpleEgress = new Map<string, EgressPolicy>(
  (['allow_all', 'deny_all'] as const).map((mode) => [mode, Object.freeze({ mode })]),
);

/**
 * One copy of the values that most of 100,000 VMs have in common, for what the leader holds between
 * resyncs (ADR 0091): a row or an inventory parsed gives every VM its own copy of its host's id, of
 * `{}` as its rate limits, of `{ mode: 'allow_all' }`, of a retry state with nothing to retry. Held
 * values are never changed (they are read-only by type), so sharing one is safe. Only cheap checks
 * (no hashing of objects): a value that is not one of the common shapes is kept as it is.
 */
export class SharedValues {
  private readonly strings = new Map<string, string>();
  private readonly restingRetries = new Map<string, RetryState>();
  private readonly agentEgress = new Map<string, NonNullable<AgentVm['egress']>>();

  string<T extends string>(value: T): T;
  string<T extends string>(value: T | null): T | null;
  string<T extends string>(value: T | null): T | null {
    if (value === null) return null;
    const shared = this.strings.get(value);
    if (shared !== undefined) return shared as T;
    if (this.strings.size >= maxStrings) this.strings.clear();
    this.strings.set(value, value);
    return value;
  }

  rateLimits(value: RateLimits): RateLimits {
    return isEmpty(value) ? noRateLimits : value;
  }

  egressPolicy(value: EgressPolicy): EgressPolicy {
    return (value.mode === 'allow_all' || value.mode === 'deny_all') && hasOnlyMode(value)
      ? (simpleEgress.get(value.mode) ?? value)
      : value;
  }

  /** A retry state with nothing counted or scheduled, shared per restart policy; any other as it is. */
  retry(value: RetryState): RetryState {
    const isResting =
      value.attempt === 0 &&
      value.nextAttemptAt === null &&
      value.crashWindow.restarts === 0 &&
      value.crashWindow.startedAt === null;
    if (!isResting) return value;
    const shared = this.restingRetries.get(value.restartPolicy);
    if (shared !== undefined) return shared;
    this.restingRetries.set(value.restartPolicy, value);
    return value;
  }

  /** What an inventory says of a VM's egress, when its policy is a simple one. */
  agentVmEgress(value: NonNullable<AgentVm['egress']>): NonNullable<AgentVm['egress']> {
    const policy = this.egressPolicy(value.policy);
    if (policy !== simpleEgress.get(policy.mode)) return value;
    const key = `${policy.mode}:${value.isInPlace}`;
    const shared = this.agentEgress.get(key);
    if (shared !== undefined) return shared;
    const made = Object.freeze({ policy, isInPlace: value.isInPlace });
    this.agentEgress.set(key, made);
    return made;
  }

  clear(): void {
    this.strings.clear();
    this.restingRetries.clear();
    this.agentEgress.clear();
  }
}

function isEmpty(value: object): boolean {
  for (const key in value) if (Object.hasOwn(value, key)) return false;
  return true;
}

function hasOnlyMode(value: object): boolean {
  for (const key in value) if (key !== 'mode' && Object.hasOwn(value, key)) return false;
  return true;
}
