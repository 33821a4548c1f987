import { Type, type Static } from 'typebox';

/** At most 64 entries in an allow or deny list, each with at most 16 ports. */
export const egressRulesMaxCount = 64;
export const egressPortsMaxCount = 16;

/** One destination of an egress list: a CIDR, optionally narrowed to a protocol and up to 16 ports. */
export const EgressRule = Type.Object(
  {
    cidr: Type.String({ minLength: 9, maxLength: 18, pattern: '^[0-9]{1,3}(\\.[0-9]{1,3}){3}/[0-9]{1,2}$' }),
    protocol: Type.Optional(Type.Union([Type.Literal('tcp'), Type.Literal('udp')])),
    ports: Type.Optional(
      Type.Array(Type.Integer({ minimum: 1, maximum: 65535 }), { minItems: 1, maxItems: egressPortsMaxCount }),
    ),
  },
  { additionalProperties: false },
);
export type EgressRule = Static<typeof EgressRule>;

/** A VM's egress: everything (the default), nothing, only what `rules` allow, or all but what they deny. */
export const EgressPolicy = Type.Union([
  Type.Object({ mode: Type.Literal('allow_all') }, { additionalProperties: false }),
  Type.Object({ mode: Type.Literal('deny_all') }, { additionalProperties: false }),
  Type.Object(
    { mode: Type.Literal('allow_list'), rules: Type.Array(EgressRule, { maxItems: egressRulesMaxCount }) },
    { additionalProperties: false },
  ),
  Type.Object(
    { mode: Type.Literal('deny_list'), rules: Type.Array(EgressRule, { maxItems: egressRulesMaxCount }) },
    { additionalProperties: false },
  ),
]);
export type EgressPolicy = Static<typeof EgressPolicy>;

/** A field of an egress policy its schema lets through but no rule can be written from. */
export interface EgressPolicyProblem {
  /** Relative to the policy, e.g. `rules/0/cidr`. */
  readonly field: string;
  readonly message: string;
}

/** A dotted quad: four octets up to 255, without leading zeros. */
export function isIpv4Address(value: string): boolean {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(value);
  return match !== null && match.slice(1).every((octet) => Number(octet) <= 255 && String(Number(octet)) === octet);
}

/** A dotted quad (no leading zeros, octets up to 255) and a prefix length up to 32. */
export function isIpv4Cidr(value: string): boolean {
  const [address = '', length = '', ...rest] = value.split('/');
  return rest.length === 0 && isIpv4Address(address) && /^\d{1,2}$/.test(length) && Number(length) <= 32;
}

/**
 * What the schema alone cannot say about a policy: CIDRs with real octets and prefix lengths, ports
 * in range, a protocol wherever ports are given, the list limits. Empty for a policy rules can be
 * written from; both the Manager (at its API) and the Agent (before nft) check it. Pure.
 */
export function egressPolicyProblems(policy: EgressPolicy): EgressPolicyProblem[] {
  if (policy.mode === 'allow_all' || policy.mode === 'deny_all') return [];
  if (policy.rules.length > egressRulesMaxCount) {
    return [{ field: 'rules', message: `must NOT have more than ${egressRulesMaxCount} items` }];
  }
  return policy.rules.flatMap((rule, index): EgressPolicyProblem[] => {
    const ports = rule.ports ?? [];
    const problems: EgressPolicyProblem[] = [];
    if (!isIpv4Cidr(rule.cidr))
      problems.push({ field: `rules/${index}/cidr`, message: 'must be an IPv4 CIDR such as 10.0.0.0/8' });
    if (ports.length > egressPortsMaxCount) {
      problems.push({ field: `rules/${index}/ports`, message: `must NOT have more than ${egressPortsMaxCount} items` });
    } else if (ports.some((port) => !Number.isInteger(port) || port < 1 || port > 65_535)) {
      problems.push({ field: `rules/${index}/ports`, message: 'must be integers 1..65535' });
    }
    if (ports.length > 0 && rule.protocol === undefined) {
      problems.push({ field: `rules/${index}/protocol`, message: 'is required with ports' });
    }
    return problems;
  });
}

/** The policy with its keys in one order, whatever order a client or a JSON column gave them in. */
function canonicalPolicy(policy: EgressPolicy): string {
  if (policy.mode === 'allow_all' || policy.mode === 'deny_all') return JSON.stringify({ mode: policy.mode });
  const rules = policy.rules.map((rule) => ({ cidr: rule.cidr, protocol: rule.protocol ?? null, ports: rule.ports ?? null }));
  return JSON.stringify({ mode: policy.mode, rules });
}

/** True when both policies write the same rules (same mode, same entries in the same order). */
export function isSameEgressPolicy(a: EgressPolicy, b: EgressPolicy): boolean {
  return canonicalPolicy(a) === canonicalPolicy(b);
}
