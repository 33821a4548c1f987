import { createHash } from 'node:crypto';
import {
  egressPolicyProblems,
  isIpv4Address,
  publishedPortProblems,
  sortedPublishedPorts,
  type EgressPolicy,
  type EgressRule,
  type PublishedPort,
} from '@hearth/contracts';
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
  /** Elements of the `ports` map: a published host port → the guest's address and port, with the VM id of their comment. */
  readonly portElements: readonly PortElement[];
  /** Chains named after a VM id in the bridge-family table of the same name (each VM's guard). */
  readonly guardChains: readonly string[];
  /** Elements of the bridge table's `guard` map: a guest's TAP → `jump <vm chain>`. */
  readonly guardElements: readonly { readonly tap: string; readonly chain: string }[];
  /** TAPs in the bridge table's sets (`taps`, and one `shared_<hash>` per shared network), with the VM id of their comment. */
  readonly tapElements: readonly { readonly set: string; readonly tap: string; readonly vmId: string }[];
}

/** One published port as the `ports` map holds it. */
export interface PortElement {
  readonly protocol: 'tcp' | 'udp';
  readonly hostPort: number;
  readonly address: string;
  readonly guestPort: number;
  readonly vmId: string;
}

export const emptyEgressTableState: EgressTableState = Object.freeze({
  vmChains: [],
  egressElements: [],
  guestElements: [],
  portElements: [],
  guardChains: [],
  guardElements: [],
  tapElements: [],
});

export const egressMapName = 'egress';
export const guestSetName = 'guests';
export const portMapName = 'ports';
export const guardMapName = 'guard';
export const tapSetName = 'taps';
/**
 * The bridge table's set of the frame types a guest may send (IPv4 and ARP): one named set that
 * every guard rule refers to. An anonymous set per rule would be one more set per VM, which nft
 * reads back (one request each) before every command on the table.
 */
export const guestTypesSetName = 'guest_types';
/** The sets of the guests' TAPs of one shared network: `shared_` and 16 hex digits of its name's hash. */
export const sharedSetPattern = /^shared_[0-9a-f]{16}$/;

/** What keeps a guest to its own addresses and away from other guests on its bridge. */
export interface GuestGuard {
  readonly tap: string;
  readonly mac: string;
  /** The set of the shared network it joined (see `sharedSetName`), or null when it joined none. */
  readonly sharedSet: string | null;
}

const tapPattern = /^[A-Za-z0-9_.-]{1,15}$/;
const macPattern = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/;

const tableNamePattern = /^[a-z][a-z0-9_]{0,31}$/;
const uplinkPattern = /^[A-Za-z0-9_.:-]{1,15}$/;

function invalid(field: string, message: string): AppError {
  return new AppError('VALIDATION_FAILED', `Invalid egress rules: ${field}`, { errors: [{ field, message }] });
}

/**
 * Throws VALIDATION_FAILED (naming the first bad field) unless every port is in range, published
 * once, and none is one of the host's own (`reservedTcpPorts`, e.g. the Agent's).
 */
export function assertPublishedPorts(ports: readonly PublishedPort[], reservedTcpPorts: readonly number[] = []): void {
  const reserved = reservedTcpPorts.map((port) => ({ protocol: 'tcp' as const, port }));
  const [problem] = publishedPortProblems(ports, reserved);
  if (problem !== undefined) throw invalid(`ports/${problem.field}`, problem.message);
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

/**
 * The rules of one list entry, each ending in `verdict`: one rule, or one per port. A port list is
 * never written as a set (`dport { 80, 443 }`): that would be an anonymous set per entry, which nft
 * reads back (one request each) before every command on the table, a listing of one VM's chain
 * included, while other chains' rules are not read. An entry's ports all have one verdict, so one
 * rule per port matches what the set matched.
 */
function entryRules(rule: EgressRule, verdict: 'accept' | 'drop'): string[] {
  const destination = `ip daddr ${rule.cidr}`;
  const ports = rule.ports ?? [];
  if (rule.protocol === undefined) return [`${destination} ${verdict}`];
  if (ports.length === 0) return [`${destination} meta l4proto ${rule.protocol} ${verdict}`];
  return [...new Set(ports)].map((port) => `${destination} ${rule.protocol} dport ${port} ${verdict}`);
}

function policyRules(policy: EgressPolicy): string[] {
  switch (policy.mode) {
    case 'allow_all':
      return ['accept'];
    case 'deny_all':
      return ['drop'];
    case 'allow_list':
      return [...policy.rules.flatMap((rule) => entryRules(rule, 'accept')), 'drop'];
    case 'deny_list':
      return [...policy.rules.flatMap((rule) => entryRules(rule, 'drop')), 'accept'];
  }
}

/**
 * The table, its maps and set, and its base chains, each rewritten whole (so the script is
 * idempotent). Published ports are DNAT from any of the host's own addresses (`fib daddr type
 * local`), for packets that arrive (prerouting) and for the host's own (output, loopback excepted:
 * a DNAT from 127.0.0.0/8 would need `route_localnet`). The replies of a published port's
 * connections are accepted before the guest's egress chain, which governs what the guest starts.
 */
function baseScript(table: EgressTable): string[] {
  const t = `ip ${table.name}`;
  const dnat = `fib daddr type local dnat ip to meta l4proto . th dport map @${portMapName}`;
  return [
    `add table ${t}`,
    `add map ${t} ${egressMapName} { type ipv4_addr : verdict ; }`,
    `add set ${t} ${guestSetName} { type ipv4_addr ; }`,
    `add map ${t} ${portMapName} { type inet_proto . inet_service : ipv4_addr . inet_service ; }`,
    `add chain ${t} forward { type filter hook forward priority 0 ; policy accept ; }`,
    `flush chain ${t} forward`,
    `add rule ${t} forward ct status dnat ip saddr @${guestSetName} accept`,
    `add rule ${t} forward ip saddr vmap @${egressMapName}`,
    `add chain ${t} prerouting { type nat hook prerouting priority -100 ; policy accept ; }`,
    `flush chain ${t} prerouting`,
    `add rule ${t} prerouting ${dnat}`,
    `add chain ${t} output { type nat hook output priority -100 ; policy accept ; }`,
    `flush chain ${t} output`,
    `add rule ${t} output ip daddr != 127.0.0.0/8 ${dnat}`,
    `add chain ${t} postrouting { type nat hook postrouting priority 100 ; policy accept ; }`,
    `flush chain ${t} postrouting`,
    `add rule ${t} postrouting oifname "${table.uplink}" ip saddr @${guestSetName} masquerade`,
  ];
}

/**
 * The bridge-family table of the same name: every frame a guest's TAP brings in passes its VM's
 * chain (anti-spoofing: its own MAC, and its own address in IPv4 and ARP, nothing but IPv4 and ARP),
 * in prerouting and again in forward, where a frame for another guest's TAP is dropped unless both
 * TAPs are in one shared network's set. Frames between a guest and the host or the uplink pass.
 */
function bridgeBaseScript(tableName: string): string[] {
  const t = `bridge ${tableName}`;
  return [
    `add table ${t}`,
    `add set ${t} ${tapSetName} { type ifname ; }`,
    `add map ${t} ${guardMapName} { type ifname : verdict ; }`,
    `add set ${t} ${guestTypesSetName} { type ether_type ; elements = { ip, arp } ; }`,
    `add chain ${t} prerouting { type filter hook prerouting priority -200 ; policy accept ; }`,
    `flush chain ${t} prerouting`,
    `add rule ${t} prerouting iifname vmap @${guardMapName}`,
    `add chain ${t} forward { type filter hook forward priority 0 ; policy accept ; }`,
    `flush chain ${t} forward`,
    `add rule ${t} forward iifname vmap @${guardMapName}`,
  ];
}

function guardRules(guard: GuestGuard, address: string): string[] {
  return [
    `ether saddr != ${guard.mac} drop`,
    `ether type arp arp saddr ether != ${guard.mac} drop`,
    `ether type arp arp saddr ip != ${address} drop`,
    `ether type ip ip saddr != ${address} drop`,
    `ether type != @${guestTypesSetName} drop`,
    guard.sharedSet === null ? `oifname @${tapSetName} drop` : `oifname @${tapSetName} oifname != @${guard.sharedSet} drop`,
  ];
}

function assertGuard(guard: GuestGuard): void {
  if (!tapPattern.test(guard.tap)) throw invalid('tap', 'must be an interface name');
  if (!macPattern.test(guard.mac)) throw invalid('mac', 'must be a lower-case MAC address');
  if (guard.sharedSet !== null && !sharedSetPattern.test(guard.sharedSet))
    throw invalid('sharedSet', 'must be a shared set name');
}

function portKey(port: Pick<PortElement, 'protocol' | 'hostPort'>): string {
  return `${port.protocol} . ${port.hostPort}`;
}

/** Deletes exactly the listed elements and chains, in an order nftables accepts (elements first). */
function deletions(
  tableName: string,
  state: EgressTableState,
  isDoomed: (vmId: string, address: string) => boolean,
  isDoomedPort: (element: PortElement) => boolean = () => false,
): string[] {
  const t = `ip ${tableName}`;
  const doomedChains = new Set(state.vmChains.filter((chain) => isDoomed(chain, '')));
  return [
    ...state.egressElements
      .filter((element) => doomedChains.has(element.chain) || isDoomed(element.chain, element.address))
      .map((element) => `delete element ${t} ${egressMapName} { ${element.address} }`),
    ...state.guestElements
      .filter((element) => isDoomed(element.vmId, element.address))
      .map((element) => `delete element ${t} ${guestSetName} { ${element.address} }`),
    ...state.portElements
      .filter((element) => isDoomed(element.vmId, '') || isDoomedPort(element))
      .map((element) => `delete element ${t} ${portMapName} { ${portKey(element)} }`),
    ...[...doomedChains].flatMap((chain) => [`flush chain ${t} ${chain}`, `delete chain ${t} ${chain}`]),
  ];
}

/** The same for the bridge table: the guard elements and TAP elements of doomed VMs (or of `tap`), then their chains. */
function bridgeDeletions(
  tableName: string,
  state: EgressTableState,
  isDoomed: (vmId: string) => boolean,
  options: { readonly tap?: string; readonly keepChains?: boolean } = {},
): string[] {
  const t = `bridge ${tableName}`;
  const doomedChains = options.keepChains === true ? [] : state.guardChains.filter((chain) => isDoomed(chain));
  return [
    ...state.guardElements
      .filter((element) => isDoomed(element.chain) || element.tap === options.tap)
      .map((element) => `delete element ${t} ${guardMapName} { "${element.tap}" }`),
    ...state.tapElements
      .filter((element) => isDoomed(element.vmId) || element.tap === options.tap)
      .map((element) => `delete element ${t} ${element.set} { "${element.tap}" }`),
    ...doomedChains.flatMap((chain) => [`flush chain ${t} ${chain}`, `delete chain ${t} ${chain}`]),
  ];
}

/**
 * The bridge table's part of a VM's rules: its base chains, then whatever it held for the VM or its
 * TAP replaced by the guard of `guard` (none when null: the VM's TAP is not known yet).
 */
function guardLines(
  tableName: string,
  vm: { readonly vmId: string; readonly address: string; readonly guard: GuestGuard | null },
  state: EgressTableState,
  elementVerb: 'add' | 'create' = 'add',
): string[] {
  const { guard } = vm;
  const b = `bridge ${tableName}`;
  const chain = vm.vmId;
  return [
    ...bridgeBaseScript(tableName),
    ...bridgeDeletions(tableName, state, (vmId) => vmId === vm.vmId, { tap: guard?.tap ?? '', keepChains: guard !== null }),
    ...(guard === null
      ? []
      : [
          ...(guard.sharedSet === null ? [] : [`add set ${b} ${guard.sharedSet} { type ifname ; }`]),
          `add chain ${b} ${chain}`,
          `flush chain ${b} ${chain}`,
          ...guardRules(guard, vm.address).map((rule) => `add rule ${b} ${chain} ${rule}`),
          `${elementVerb} element ${b} ${tapSetName} { "${guard.tap}" comment "${vm.vmId}" }`,
          ...(guard.sharedSet === null
            ? []
            : [`${elementVerb} element ${b} ${guard.sharedSet} { "${guard.tap}" comment "${vm.vmId}" }`]),
          `${elementVerb} element ${b} ${guardMapName} { "${guard.tap}" comment "${vm.vmId}" : jump ${chain} }`,
        ]),
  ];
}

/**
 * The one `nft -f` script that gives `vmId` (at `address`) the guard of its TAP in the bridge table
 * alone, replacing whatever that table held for the VM or the TAP: what an Agent without egress
 * through NAT writes, so that guests stay on their own MAC and address and away from each other.
 */
export function vmGuardScript(
  tableName: string,
  vm: { readonly vmId: string; readonly address: string; readonly guard: GuestGuard },
  state: EgressTableState,
): string {
  if (!tableNamePattern.test(tableName)) throw invalid('table', 'must be a lower-case nftables name');
  if (!isVmId(vm.vmId)) throw invalid('vmId', 'must be a VM id');
  if (!isIpv4Address(vm.address)) throw invalid('address', 'must be an IPv4 address');
  assertGuard(vm.guard);
  return `${guardLines(tableName, vm, state).join('\n')}\n`;
}

/**
 * The guard of a VM the bridge table is expected to hold nothing of, written without reading the
 * table first: {@link vmGuardScript}'s script for an empty table, its elements created (`create
 * element`) rather than added, so that nft refuses the whole transaction should the table hold any
 * of them (under its TAP or in its sets) after all. An element `add` would keep silently, with
 * another VM's comment. The VM's chain is added and flushed, as that script does.
 */
export function newVmGuardScript(
  tableName: string,
  vm: { readonly vmId: string; readonly address: string; readonly guard: GuestGuard },
): string {
  if (!tableNamePattern.test(tableName)) throw invalid('table', 'must be a lower-case nftables name');
  if (!isVmId(vm.vmId)) throw invalid('vmId', 'must be a VM id');
  if (!isIpv4Address(vm.address)) throw invalid('address', 'must be an IPv4 address');
  assertGuard(vm.guard);
  return `${guardLines(tableName, vm, emptyEgressTableState, 'create').join('\n')}\n`;
}

/**
 * The one `nft -f` script that gives `vmId` (at `address`) its egress chain under `policy`,
 * masquerades it to the uplink and publishes its `ports`, replacing whatever the table held for
 * that VM, that address or those host ports. Applied as one transaction: the VM's traffic never
 * sees half a policy.
 */
export function vmEgressScript(
  table: EgressTable,
  vm: EgressVm,
  state: EgressTableState,
  bridge: 'rewrite' | 'keep' = 'rewrite',
): string {
  return egressScript(table, vm, state, bridge, 'add');
}

/**
 * Egress through NAT of a VM the tables are expected to hold nothing of, written without reading
 * them first: {@link vmEgressScript}'s script for empty tables, its elements created (`create
 * element`) rather than added, so that nft refuses the whole transaction should either table hold
 * an element at one of its keys after all (its address in `egress` or `guests`, one of its host
 * ports, its TAP). An element `add` of a key a map holds would keep the old element silently, or
 * fail only when its value differs. The VM's chains are added and flushed, as that script does.
 */
export function newVmEgressScript(table: EgressTable, vm: EgressVm): string {
  return egressScript(table, vm, emptyEgressTableState, 'rewrite', 'create');
}

/** A VM's egress through NAT, as {@link vmEgressScript} writes it. */
export interface EgressVm {
  readonly vmId: string;
  readonly address: string;
  readonly policy: EgressPolicy;
  readonly ports?: readonly PublishedPort[];
  /** The guest's TAP and MAC, once its TAP exists: the bridge table then guards it. */
  readonly guard?: GuestGuard | null;
}

function egressScript(
  table: EgressTable,
  vm: EgressVm,
  state: EgressTableState,
  bridge: 'rewrite' | 'keep',
  elementVerb: 'add' | 'create',
): string {
  assertTable(table);
  if (!isVmId(vm.vmId)) throw invalid('vmId', 'must be a VM id');
  if (!isIpv4Address(vm.address)) throw invalid('address', 'must be an IPv4 address');
  assertEgressPolicy(vm.policy);
  const ports = sortedPublishedPorts(vm.ports ?? []);
  assertPublishedPorts(ports);
  const guard = vm.guard ?? null;
  if (guard !== null) assertGuard(guard);
  const published = new Set(ports.map((port) => portKey(port)));
  const t = `ip ${table.name}`;
  const chain = vm.vmId;
  const lines = [
    ...baseScript(table),
    // Elements naming this VM, this address (a stale lease) or one of its host ports go; the chain itself is flushed below.
    ...deletions(
      table.name,
      { ...state, vmChains: [] },
      (vmId, address) => vmId === vm.vmId || address === vm.address,
      (element) => published.has(portKey(element)),
    ),
    `add chain ${t} ${chain}`,
    `flush chain ${t} ${chain}`,
    ...policyRules(vm.policy).map((rule) => `add rule ${t} ${chain} ${rule}`),
    `${elementVerb} element ${t} ${egressMapName} { ${vm.address} comment "${vm.vmId}" : jump ${chain} }`,
    `${elementVerb} element ${t} ${guestSetName} { ${vm.address} comment "${vm.vmId}" }`,
    ...ports.map(
      (port) =>
        `${elementVerb} element ${t} ${portMapName} { ${portKey(port)} comment "${vm.vmId}" : ${vm.address} . ${port.guestPort} }`,
    ),
    // The guard depends on the TAP, the MAC, the address and the shared network, never on the
    // policy: a change of the policy alone leaves the bridge table as it is (`keep`).
    ...(bridge === 'keep' ? [] : guardLines(table.name, { vmId: vm.vmId, address: vm.address, guard }, state, elementVerb)),
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * The script that removes everything of the VMs `vmIds` names from Hearth's table (their chains and
 * their elements), or null when the table holds nothing of theirs. Nothing else is touched.
 */
export function removeVmsScript(tableName: string, vmIds: ReadonlySet<string>, state: EgressTableState): string | null {
  if (!tableNamePattern.test(tableName)) throw invalid('table', 'must be a lower-case nftables name');
  const lines = [
    ...deletions(tableName, state, (vmId) => vmIds.has(vmId)),
    ...bridgeDeletions(tableName, state, (vmId) => vmIds.has(vmId)),
  ];
  return lines.length === 0 ? null : `${lines.join('\n')}\n`;
}

/** Every VM id the table holds something of: a chain, or an element that names it. */
export function vmIdsInTable(state: EgressTableState): string[] {
  const ids = new Set<string>([
    ...state.vmChains,
    ...state.egressElements.map((element) => element.chain),
    ...state.guestElements.map((element) => element.vmId),
    ...state.portElements.map((element) => element.vmId),
    ...state.guardChains,
    ...state.guardElements.map((element) => element.chain),
    ...state.tapElements.map((element) => element.vmId),
  ]);
  return [...ids].filter((id) => isVmId(id)).sort();
}

/**
 * What of Hearth's tables concerns one VM: the keys its scripts write (its address, its published
 * host ports, its TAP) and the id its chains and element comments carry. Reading only these keeps
 * a VM's create and delete from reading every other VM's rules.
 */
export interface VmTableKeys {
  readonly vmId: string;
  /** Addresses whose `egress` and `guests` elements count, whichever VM holds them (a stale lease). */
  readonly addresses: readonly string[];
  /** Host ports whose `ports` elements count, whichever VM holds them; the map is read only when there are some. */
  readonly hostPorts: readonly Pick<PortElement, 'protocol' | 'hostPort'>[];
  /** TAPs whose `guard` and set elements count, whichever VM holds them. */
  readonly taps: readonly string[];
  /** The shared networks' sets read besides `taps`. */
  readonly sharedSets: readonly string[];
}

/**
 * The part of `state` that concerns the VM `keys` names: its chains, and the elements that carry its
 * id or one of its keys (the `ports` map's only when it has host ports; of the TAP sets, `taps` and
 * its shared sets). What a VM's script, its removal and its in-place check need, and nothing of
 * other VMs beyond the elements that hold its keys. Pure.
 */
export function vmTableEntries(state: EgressTableState, keys: VmTableKeys): EgressTableState {
  const { vmId } = keys;
  const addresses = new Set(keys.addresses);
  const hostPorts = new Set(keys.hostPorts.map((port) => portKey(port)));
  const taps = new Set(keys.taps);
  const sets = new Set([tapSetName, ...keys.sharedSets]);
  return {
    vmChains: state.vmChains.filter((chain) => chain === vmId),
    egressElements: state.egressElements.filter((element) => element.chain === vmId || addresses.has(element.address)),
    guestElements: state.guestElements.filter((element) => element.vmId === vmId || addresses.has(element.address)),
    portElements:
      hostPorts.size === 0
        ? []
        : state.portElements.filter((element) => element.vmId === vmId || hostPorts.has(portKey(element))),
    guardChains: state.guardChains.filter((chain) => chain === vmId),
    guardElements: state.guardElements.filter((element) => element.chain === vmId || taps.has(element.tap)),
    tapElements: state.tapElements.filter((element) => sets.has(element.set) && (element.vmId === vmId || taps.has(element.tap))),
  };
}

/** Throws VALIDATION_FAILED unless every name in `keys` is one nft may be given in a command. */
export function assertVmTableKeys(tableName: string, keys: VmTableKeys): void {
  if (!tableNamePattern.test(tableName)) throw invalid('table', 'must be a lower-case nftables name');
  if (!isVmId(keys.vmId)) throw invalid('vmId', 'must be a VM id');
  if (!keys.sharedSets.every((set) => sharedSetPattern.test(set))) throw invalid('sharedSet', 'must be a shared set name');
}

/** The set of a shared network's TAPs: its name (project-qualified by the Manager) hashed, so any name fits nft. */
export function sharedSetName(sharedNetwork: string): string {
  return `shared_${createHash('sha256').update(sharedNetwork).digest('hex').slice(0, 16)}`;
}
