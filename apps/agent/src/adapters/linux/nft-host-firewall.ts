import { AppError, isAppError } from '@hearth/errors';
import type { CommandRunner } from '../../application/ports/command-runner.js';
import type { HostFirewall, TableFamilies } from '../../application/ports/host-firewall.js';
import {
  assertVmTableKeys,
  egressMapName,
  emptyEgressTableState,
  guardMapName,
  guestSetName,
  portMapName,
  sharedSetPattern,
  tapSetName,
  vmTableEntries,
  type EgressTableState,
  type PortElement,
  type VmTableKeys,
} from '../../domain/egress-rules.js';
import type { IpJsonReader } from './ip-json-reader.js';
import type { NftOutcome, NftSession } from './nft-session.js';
import { readProcFile } from './proc-file.js';

type NftElement = string | { readonly elem?: { readonly val?: string; readonly comment?: string } };
type NftConcat = { readonly concat?: readonly (string | number)[] };
type NftPortKey = NftConcat | { readonly elem?: { readonly val?: NftConcat; readonly comment?: string } };
interface NftObject {
  readonly chain?: { readonly name: string };
  readonly map?: {
    readonly name: string;
    readonly elem?: readonly (readonly [unknown, unknown])[];
  };
  readonly set?: { readonly name: string; readonly elem?: readonly NftElement[] };
}

function elementValue(element: NftElement): { readonly address: string; readonly comment: string } {
  if (typeof element === 'string') return { address: element, comment: '' };
  return { address: element.elem?.val ?? '', comment: element.elem?.comment ?? '' };
}

/** `tcp . 8080 comment "vm_…" : 172.30.0.5 . 80` as `nft -j` spells it; null when it is not one. */
function portElement(key: NftPortKey, value: NftConcat): PortElement | null {
  const inner = 'elem' in key ? key.elem : undefined;
  const [protocol, hostPort] = (inner?.val ?? (key as NftConcat)).concat ?? [];
  const [address, guestPort] = value.concat ?? [];
  if ((protocol !== 'tcp' && protocol !== 'udp') || typeof hostPort !== 'number') return null;
  if (typeof address !== 'string' || typeof guestPort !== 'number') return null;
  return { protocol, hostPort, address, guestPort, vmId: inner?.comment ?? '' };
}

/** The bridge table's VM chains, `guard` elements, and TAP elements of its sets. */
function bridgeState(objects: readonly NftObject[]): Pick<EgressTableState, 'guardChains' | 'guardElements' | 'tapElements'> {
  const guardChains: string[] = [];
  const guardElements: { tap: string; chain: string }[] = [];
  const tapElements: { set: string; tap: string; vmId: string }[] = [];
  for (const object of objects) {
    if (object.chain !== undefined && object.chain.name.startsWith('vm_')) guardChains.push(object.chain.name);
    if (object.map?.name === guardMapName) {
      for (const [key, verdict] of object.map.elem ?? []) {
        const target = (verdict as { readonly jump?: { readonly target?: string } }).jump?.target;
        guardElements.push({ tap: elementValue(key as NftElement).address, chain: target ?? '' });
      }
    }
    const set = object.set;
    if (set !== undefined && (set.name === tapSetName || sharedSetPattern.test(set.name))) {
      for (const element of set.elem ?? []) {
        const { address, comment } = elementValue(element);
        tapElements.push({ set: set.name, tap: address, vmId: comment });
      }
    }
  }
  return { guardChains, guardElements, tapElements };
}

/** The ip table's VM chains and the elements of its maps and set. */
function ipState(objects: readonly NftObject[]): Omit<EgressTableState, 'guardChains' | 'guardElements' | 'tapElements'> {
  if (objects.length === 0) return emptyEgressTableState;
  const vmChains: string[] = [];
  const egressElements: { address: string; chain: string }[] = [];
  const guestElements: { address: string; vmId: string }[] = [];
  const portElements: PortElement[] = [];
  for (const object of objects) {
    if (object.chain !== undefined && object.chain.name.startsWith('vm_')) vmChains.push(object.chain.name);
    if (object.map?.name === egressMapName) {
      for (const [key, verdict] of object.map.elem ?? []) {
        const target = (verdict as { readonly jump?: { readonly target?: string } }).jump?.target;
        egressElements.push({ address: elementValue(key as NftElement).address, chain: target ?? '' });
      }
    }
    if (object.map?.name === portMapName) {
      for (const [key, value] of object.map.elem ?? []) {
        const element = portElement(key as NftPortKey, value as NftConcat);
        if (element !== null) portElements.push(element);
      }
    }
    if (object.set?.name === guestSetName) {
      for (const element of object.set.elem ?? []) {
        const { address, comment } = elementValue(element);
        guestElements.push({ address, vmId: comment });
      }
    }
  }
  return { vmChains, egressElements, guestElements, portElements };
}

/** How nft answers a listing of a table, chain, map or set that does not exist. */
const missingObject = /No such file or directory/i;

function isMissingObject(error: unknown): boolean {
  if (!isAppError(error) || error.code !== 'HOST_COMMAND_FAILED') return false;
  return missingObject.test(String(error.diagnostics?.['stderr'] ?? ''));
}

/** A session's failure as a forked nft's would be: HOST_COMMAND_FAILED with its stderr. */
function sessionFailed(argv: readonly string[], outcome: NftOutcome & { kind: 'failed' }): AppError {
  return new AppError('HOST_COMMAND_FAILED', 'A host command failed (nft -i)', {
    details: { exitCode: null, signal: null },
    // The command and its stderr tell how the host is built: for the log, not the caller.
    diagnostics: { argv, stderr: outcome.stderr.trim() },
  });
}

/**
 * nftables through `nft` (each script one argument: nft runs one invocation as one transaction),
 * the default route through `ip -j route`, IPv4 forwarding as the bridge's own setting. In a named
 * namespace when given one, as the bridge and the TAPs are. With an `NftSession`, table reads and
 * scripts go to its long-lived `nft` instead of a fork each, and fork only when it answers
 * `unavailable`.
 */
export class NftHostFirewall implements HostFirewall {
  private readonly prefix: readonly string[];

  /** Where reads and scripts go instead of a fork of `nft` each, when set. */
  private readonly session: NftSession | null;

  private readonly forwarding: ForwardingSource;

  constructor(
    private readonly runner: CommandRunner,
    options: {
      readonly netns?: string | null;
      readonly session?: NftSession;
      /** Where IPv4 forwarding is read; without it, `sysctl net.ipv4.ip_forward` is forked each time. */
      readonly forwarding?: ForwardingSource;
    } = {},
  ) {
    this.prefix = options.netns ? ['ip', 'netns', 'exec', options.netns] : [];
    this.session = options.session ?? null;
    this.forwarding = options.forwarding ?? { bridge: null };
  }

  /** The `ip` table and the `bridge` table of that name: nothing else is read. */
  async readTable(table: string, families: TableFamilies = 'ip_and_bridge'): Promise<EgressTableState> {
    const [ip, bridge] = await Promise.all([
      families === 'bridge' ? Promise.resolve([]) : this.list(['table', 'ip', table]),
      families === 'ip' ? Promise.resolve([]) : this.list(['table', 'bridge', table]),
    ]);
    return { ...ipState(ip), ...bridgeState(bridge) };
  }

  /**
   * The VM's chain in each table, and the maps and sets its keys live in (the `ports` map only when
   * it has host ports, its shared sets only when named): one `list` each, as nft answers one
   * listing a line. No other VM's chain is read, nor its rules.
   */
  async readVmEntries(table: string, keys: VmTableKeys, families: TableFamilies = 'ip_and_bridge'): Promise<EgressTableState> {
    assertVmTableKeys(table, keys);
    const ip: (readonly string[])[] =
      families === 'bridge'
        ? []
        : [
            ['chain', 'ip', table, keys.vmId],
            ['map', 'ip', table, egressMapName],
            ['set', 'ip', table, guestSetName],
            ...(keys.hostPorts.length === 0 ? [] : [['map', 'ip', table, portMapName]]),
          ];
    const bridge: (readonly string[])[] =
      families === 'ip'
        ? []
        : [
            ['chain', 'bridge', table, keys.vmId],
            ['map', 'bridge', table, guardMapName],
            ['set', 'bridge', table, tapSetName],
            ...keys.sharedSets.map((set) => ['set', 'bridge', table, set]),
          ];
    const [ipObjects, bridgeObjects] = await Promise.all([
      Promise.all(ip.map((what) => this.list(what))),
      Promise.all(bridge.map((what) => this.list(what))),
    ]);
    return vmTableEntries({ ...ipState(ipObjects.flat()), ...bridgeState(bridgeObjects.flat()) }, keys);
  }

  /** `nft -j list <what>`: its objects, none when what it names (or its table) does not exist. */
  private async list(what: readonly string[]): Promise<NftObject[]> {
    const argv = [...this.prefix, 'nft', '-j', 'list', ...what];
    const read = await this.session?.run(`list ${what.join(' ')}`, true);
    if (read?.kind === 'failed') {
      if (missingObject.test(read.stderr)) return [];
      throw sessionFailed(argv, read);
    }
    if (read?.kind === 'output') return (JSON.parse(read.stdout) as { nftables?: NftObject[] }).nftables ?? [];
    try {
      const { stdout } = await this.runner.run(argv);
      return (JSON.parse(stdout) as { nftables?: NftObject[] }).nftables ?? [];
    } catch (error) {
      if (isMissingObject(error)) return [];
      throw error;
    }
  }

  async apply(script: string): Promise<void> {
    const argv = [...this.prefix, 'nft', script];
    const applied = await this.session?.run(script);
    if (applied?.kind === 'failed') throw sessionFailed(argv, applied);
    if (applied?.kind !== 'output') await this.runner.run(argv);
  }

  async defaultRouteDevice(): Promise<string | null> {
    const { stdout } = await this.runner.run([...this.prefix, 'ip', '-j', '-4', 'route', 'show', 'default']);
    const routes = JSON.parse(stdout.trim() === '' ? '[]' : stdout) as { readonly dev?: string }[];
    return routes.find((route) => typeof route.dev === 'string')?.dev ?? null;
  }

  /**
   * Whether the kernel forwards IPv4 packets that enter through the bridge: the bridge's own
   * `forwarding`, which is what routing checks for the guests' packets (`net.ipv4.ip_forward = 1`
   * sets it on every link, the bridge included). Read without a fork: from `/proc/sys` when the
   * bridge is in the Agent's own namespace, from the long-lived `ip` reader (`netconf`) when it is in
   * another, since `/proc/sys/net` answers for the reader's namespace only. Before the bridge exists,
   * or when the reader cannot say, `net.ipv4.ip_forward` is read instead.
   */
  async isForwardingEnabled(): Promise<boolean> {
    const { bridge } = this.forwarding;
    const onBridge = bridge === null ? null : await this.bridgeForwarding(bridge);
    if (onBridge !== null) return onBridge;
    if (this.forwarding.procIpv4Dir !== undefined)
      return readProcFile(`${this.forwarding.procIpv4Dir}/ip_forward`).trim() === '1';
    const { stdout } = await this.runner.run([...this.prefix, 'sysctl', '-n', 'net.ipv4.ip_forward']);
    return stdout.trim() === '1';
  }

  /** The bridge's `forwarding`, or null when the bridge does not exist or the reader cannot say. */
  private async bridgeForwarding(bridge: string): Promise<boolean | null> {
    const { procIpv4Dir, reader } = this.forwarding;
    if (procIpv4Dir !== undefined) {
      try {
        return readProcFile(`${procIpv4Dir}/conf/${bridge}/forwarding`).trim() === '1';
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw error;
      }
    }
    const read = await reader?.read(['netconf', 'show', 'dev', bridge]);
    if (read?.kind !== 'output') return null;
    const settings = (JSON.parse(read.stdout) as { family?: string; interface?: string; forwarding?: boolean }[]).find(
      (entry) => entry.family === 'inet',
    );
    // A name the long-lived `ip` looked up before may be a deleted link's: have it look afresh.
    if (settings?.interface !== bridge || typeof settings.forwarding !== 'boolean') {
      reader?.restart();
      return null;
    }
    return settings.forwarding;
  }
}

/**
 * Where `NftHostFirewall` reads IPv4 forwarding: the bridge's setting, and with `procIpv4Dir`
 * (`/proc/sys/net/ipv4`, only when the bridge is in the Agent's own namespace) from files, otherwise
 * through `reader` (an `ip` reader in the bridge's namespace).
 */
export interface ForwardingSource {
  readonly bridge: string | null;
  readonly procIpv4Dir?: string;
  readonly reader?: IpJsonReader;
}
