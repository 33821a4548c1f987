import { egressPolicyProblems, type EgressPolicy } from '@hearth/contracts';
import type { FieldError } from '@hearth/errors';

export type { EgressPolicy };

/** A VM's egress when none was asked for: everything. */
export const allowAllEgress: EgressPolicy = Object.freeze({ mode: 'allow_all' });

/**
 * What is wrong with a policy its schema let through (an octet over 255, ports without a protocol),
 * each field named under `prefix` (`body/egress`, `body`); empty when rules can be written from it.
 */
export function egressPolicyErrors(policy: EgressPolicy, prefix: string): FieldError[] {
  return egressPolicyProblems(policy).map((problem) => ({ field: `${prefix}/${problem.field}`, message: problem.message }));
}

/** The message of a `vm.egress_changed` event: the new mode and how many entries its list has. */
export function egressChangeMessage(policy: EgressPolicy): string {
  if (policy.mode === 'allow_all' || policy.mode === 'deny_all') return `egress ${policy.mode}`;
  return `egress ${policy.mode} (${policy.rules.length} ${policy.rules.length === 1 ? 'entry' : 'entries'})`;
}
