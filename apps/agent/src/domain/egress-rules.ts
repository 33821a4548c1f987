import { egressPolicyProblems, isIpv4Address, type EgressPolicy, type EgressRule } from '@hearth/contracts';
import { AppError } from '@hearth/errors';
import { isVmId } from './vm-id.js';

/** What a VM may send beyond the host (the API's schema); see `assertEgressPolicy` for the checks the rules rely on. */
export type { EgressPolicy, EgressRule };

export const allowAllEgress: EgressPolicy = Object.freeze({ mode: 'allow_all' });

/** Hearth's table and the uplink its guests are masqueraded to. */
export interface EgressTable {
  /** The nftables table (family `ip`) that holds every rule Hearth writes, and nothing else does. */
  readonly name: string;
  readonly uplink: string;
}

/** What Hearth's table holds per VM, as read back from nftables. */
export interface EgressTableState {
  /** Chains named after a VM id. */
  readonly vmChains: readonly string[];
  /** Elements of the `egress` verdict map: guest address → `jump <vm chain>`. */
  readonly egressElements: readonly { readonly address: string; readonly chain: string }[];
  /** Elements of the `guests` set (the addresses masqueraded), with the VM id of their comment. */
  readonly guestElements: readonly { readonly address: string; readonly vmId: string }[];
}

export const emptyEgressTableState: EgressTableState = Object.freeze({ vmChains: [], egressElements: [], guestElements: [] });

export const egressMapName = 'egress';
export const guestSetName = 'guests';

const tableNamePattern = /^[a-z][a-z0-9_]{0,31}$/;
const uplinkPattern = /^[A-Za-z0-9_.:-]{1,15}$/;

function invalid(field: string, message: string): AppError {
  return new AppError('VALIDATION_FAILED', `Invalid egress rules: ${field}`, { errors: [{ field, message }] });
}

/** Throws VALIDATION_FAILED (naming the first bad field) unless the policy holds only well-formed CIDRs and ports, within limits. */
export function assertEgressPolicy(policy: EgressPolicy): void {
  const [problem] = egressPolicyProblems(policy);
  if (problem !== undefined) throw invalid(problem.field, problem.message);
}

function assertTable(table: EgressTable): void {
  if (!tableNamePattern.test(table.name)) throw invalid('table', 'must be a lower-case nftables name');
  if (!uplinkPattern.test(table.uplink)) throw invalid('uplink', 'must be an interface name');
}

/** The rule text of one list entry, ending in `verdict`. */
function ruleText(rule: EgressRule, verdict: 'accept' | 'drop'): string {
  const parts = [`ip daddr ${rule.cidr}`];
  const ports = rule.ports ?? [];
  if (rule.protocol !== undefined && ports.length === 0) parts.push(`meta l4proto ${rule.protocol}`);
  if (rule.protocol !== undefined && ports.length > 0) parts.push(`${rule.protocol} dport { ${ports.join(', ')} }`);
  return `${parts.join(' ')} ${verdict}`;
}

function policyRules(policy: EgressPolicy): string[] {
  switch (policy.mode) {
    case 'allow_all':
      return ['accept'];
    case 'deny_all':
      return ['drop'];
    case 'allow_list':
      return [...policy.rules.map((rule) => ruleText(rule, 'accept')), 'drop'];
    case 'deny_list':
      return [...policy.rules.map((rule) => ruleText(rule, 'drop')), 'accept'];
  }
}

/** The table, its map and set, and its two base chains, each rewritten whole (so the script is idempotent). */
function baseScript(table: EgressTable): string[] {
  const t = `ip ${table.name}`;
  return [
    `add table ${t}`,
    `add map ${t} ${egressMapName} { type ipv4_addr : verdict ; }`,
    `add set ${t} ${guestSetName} { type ipv4_addr ; }`,
    `add chain ${t} forward { type filter hook forward priority 0 ; policy accept ; }`,
    `flush chain ${t} forward`,
    `add rule ${t} forward ip saddr vmap @${egressMapName}`,
    `add chain ${t} postrouting { type nat hook postrouting priority 100 ; policy accept ; }`,
    `flush chain ${t} postrouting`,
    `add rule ${t} postrouting oifname "${table.uplink}" ip saddr @${guestSetName} masquerade`,
  ];
}

/** Deletes exactly the listed elements and chains, in an order nftables accepts (elements first). */
function deletions(tableName: string, state: EgressTableState, isDoomed: (vmId: string, address: string) => boolean): string[] {
  const t = `ip ${tableName}`;
  const doomedChains = new Set(state.vmChains.filter((chain) => isDoomed(chain, '')));
  return [
    ...state.egressElements
      .filter((element) => doomedChains.has(element.chain) || isDoomed(element.chain, element.address))
      .map((element) => `delete element ${t} ${egressMapName} { ${element.address} }`),
    ...state.guestElements
      .filter((element) => isDoomed(element.vmId, element.address))
      .map((element) => `delete element ${t} ${guestSetName} { ${element.address} }`),
    ...[...doomedChains].flatMap((chain) => [`flush chain ${t} ${chain}`, `delete chain ${t} ${chain}`]),
  ];
}

/**
 * The one `nft -f` script that gives `vmId` (at `address`) its egress chain under `policy` and
 * masquerades it to the uplink, replacing whatever the table held for that VM or that address.
 * Applied as one transaction: the VM's traffic never sees half a policy.
 */
export function vmEgressScript(
  table: EgressTable,
  vm: { readonly vmId: string; readonly address: string; readonly policy: EgressPolicy },
  state: EgressTableState,
): string {
  assertTable(table);
  if (!isVmId(vm.vmId)) throw invalid('vmId', 'must be a VM id');
  if (!isIpv4Address(vm.address)) throw invalid('address', 'must be an IPv4 address');
  assertEgressPolicy(vm.policy);
  const t = `ip ${table.name}`;
  const chain = vm.vmId;
  const lines = [
    ...baseScript(table),
    // Elements naming this VM or this address (a stale lease) go; the chain itself is flushed below.
    ...deletions(table.name, { ...state, vmChains: [] }, (vmId, address) => vmId === vm.vmId || address === vm.address),
    `add chain ${t} ${chain}`,
    `flush chain ${t} ${chain}`,
    ...policyRules(vm.policy).map((rule) => `add rule ${t} ${chain} ${rule}`),
    `add element ${t} ${egressMapName} { ${vm.address} comment "${vm.vmId}" : jump ${chain} }`,
    `add element ${t} ${guestSetName} { ${vm.address} comment "${vm.vmId}" }`,
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * The script that removes everything of the VMs `vmIds` names from Hearth's table (their chains and
 * their elements), or null when the table holds nothing of theirs. Nothing else is touched.
 */
export function removeVmsScript(tableName: string, vmIds: ReadonlySet<string>, state: EgressTableState): string | null {
  if (!tableNamePattern.test(tableName)) throw invalid('table', 'must be a lower-case nftables name');
  const lines = deletions(tableName, state, (vmId) => vmIds.has(vmId));
  return lines.length === 0 ? null : `${lines.join('\n')}\n`;
}

/** Every VM id the table holds something of: a chain, or an element that names it. */
export function vmIdsInTable(state: EgressTableState): string[] {
  const ids = new Set<string>([
    ...state.vmChains,
    ...state.egressElements.map((element) => element.chain),
    ...state.guestElements.map((element) => element.vmId),
  ]);
  return [...ids].filter((id) => isVmId(id)).sort();
}
