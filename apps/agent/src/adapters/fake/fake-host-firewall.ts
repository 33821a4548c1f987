import { AppError } from '@hearth/errors';
import type { HostFirewall, TableFamilies } from '../../application/ports/host-firewall.js';
import {
  assertVmTableKeys,
  egressMapName,
  emptyEgressTableState,
  guardMapName,
  guestSetName,
  portMapName,
  vmTableEntries,
  type EgressTableState,
  type PortElement,
  type VmTableKeys,
} from '../../domain/egress-rules.js';

interface FakeTable {
  readonly chains: Map<string, string[]>;
  /** address → [vm id of the comment, jump target] */
  readonly egress: Map<string, { vmId: string; chain: string }>;
  readonly guests: Map<string, string>;
  /** `tcp . 8080` → the element */
  readonly ports: Map<string, PortElement>;
}

interface FakeBridgeTable {
  readonly chains: Map<string, string[]>;
  /** tap → [vm id of the comment, jump target] */
  readonly guard: Map<string, { vmId: string; chain: string }>;
  /** set name → tap → vm id of the comment */
  readonly sets: Map<string, Map<string, string>>;
}

function failed(line: string, reason: string): AppError {
  return new AppError('HOST_COMMAND_FAILED', 'A host command failed (exit status 1)', {
    details: { exitCode: 1, signal: null },
    diagnostics: { argv: ['nft', line], stderr: `Error: ${reason}` },
  });
}

/**
 * `add`, `flush` or `delete chain` as nft does them, in either family: deleting a chain that still
 * has rules, or that an element of a map jumps to (`isReferenced`), is refused as busy.
 */
function chainCommand(
  chains: Map<string, string[]>,
  line: string,
  verb: string | undefined,
  name: string,
  isReferenced: (chain: string) => boolean,
): void {
  const rules = chains.get(name);
  if (verb === 'add') {
    if (rules === undefined) chains.set(name, []);
  } else if (rules === undefined) throw failed(line, 'No such file or directory');
  else if (verb === 'flush') chains.set(name, []);
  else if (verb === 'delete') {
    if (rules.length > 0 || isReferenced(name)) throw failed(line, 'Device or resource busy');
    chains.delete(name);
  }
}

/**
 * Hearth's nftables tables in memory. It understands the commands the script builder writes, applies
 * a script all or nothing, and fails as nft does on deleting what is not there (see the contract suite).
 */
export class FakeHostFirewall implements HostFirewall {
  readonly tables = new Map<string, FakeTable>();
  readonly bridgeTables = new Map<string, FakeBridgeTable>();
  /** The rules of each chain as written, for assertions on policies. */
  uplink: string | null = 'eth0';
  isForwarding = true;
  applyCount = 0;
  /** How many times the whole table was read (`readTable`), and one VM's entries (`readVmEntries`). */
  tableReadCount = 0;
  vmReadCount = 0;
  /** The script of the last apply. */
  lastScript: string | undefined;
  /** How many of the next applies fail before changing anything. */
  failingApplies = 0;

  async readTable(table: string, families: TableFamilies = 'ip_and_bridge'): Promise<EgressTableState> {
    this.tableReadCount += 1;
    return this.stateOf(table, families);
  }

  async readVmEntries(table: string, keys: VmTableKeys, families: TableFamilies = 'ip_and_bridge'): Promise<EgressTableState> {
    assertVmTableKeys(table, keys);
    this.vmReadCount += 1;
    return vmTableEntries(this.stateOf(table, families), keys);
  }

  private stateOf(table: string, families: TableFamilies): EgressTableState {
    const found = families === 'bridge' ? undefined : this.tables.get(table);
    const bridge = families === 'ip' ? undefined : this.bridgeTables.get(table);
    return {
      ...emptyEgressTableState,
      ...(found === undefined
        ? {}
        : {
            vmChains: [...found.chains.keys()].filter((chain) => chain.startsWith('vm_')),
            egressElements: [...found.egress].map(([address, element]) => ({ address, chain: element.chain })),
            guestElements: [...found.guests].map(([address, vmId]) => ({ address, vmId })),
            portElements: [...found.ports.values()],
          }),
      ...(bridge === undefined
        ? {}
        : {
            guardChains: [...bridge.chains.keys()].filter((chain) => chain.startsWith('vm_')),
            guardElements: [...bridge.guard].map(([tap, element]) => ({ tap, chain: element.chain })),
            tapElements: [...bridge.sets].flatMap(([set, taps]) => [...taps].map(([tap, vmId]) => ({ set, tap, vmId }))),
          }),
    };
  }

  /** The rules of one chain, or undefined when it does not exist. */
  chainRules(table: string, chain: string): readonly string[] | undefined {
    return this.tables.get(table)?.chains.get(chain);
  }

  /** The rules of one chain of the bridge table, or undefined when it does not exist. */
  bridgeChainRules(table: string, chain: string): readonly string[] | undefined {
    return this.bridgeTables.get(table)?.chains.get(chain);
  }

  async apply(script: string): Promise<void> {
    this.applyCount += 1;
    this.lastScript = script;
    if (this.failingApplies > 0) {
      this.failingApplies -= 1;
      throw failed(script, 'Could not process rule');
    }
    const next = new Map(
      [...this.tables].map(([name, table]) => [
        name,
        {
          chains: new Map([...table.chains].map(([chain, rules]) => [chain, [...rules]])),
          egress: new Map(table.egress),
          guests: new Map(table.guests),
          ports: new Map(table.ports),
        },
      ]),
    );
    const nextBridge = new Map(
      [...this.bridgeTables].map(([name, table]) => [
        name,
        {
          chains: new Map([...table.chains].map(([chain, rules]) => [chain, [...rules]])),
          guard: new Map(table.guard),
          sets: new Map([...table.sets].map(([set, taps]) => [set, new Map(taps)])),
        },
      ]),
    );
    for (const line of script.split('\n').filter((text) => text.trim() !== '')) {
      if (line.split(' ')[2] === 'bridge') this.runBridge(nextBridge, line);
      else this.run(next, line);
    }
    this.tables.clear();
    for (const [name, table] of next) this.tables.set(name, table);
    this.bridgeTables.clear();
    for (const [name, table] of nextBridge) this.bridgeTables.set(name, table);
  }

  private run(tables: Map<string, FakeTable>, line: string): void {
    const words = line.split(' ');
    const [verb, object, family, tableName = '', name = ''] = words;
    if (family !== 'ip') throw failed(line, 'unsupported family');
    if (verb === 'add' && object === 'table') {
      if (!tables.has(tableName))
        tables.set(tableName, { chains: new Map(), egress: new Map(), guests: new Map(), ports: new Map() });
      return;
    }
    const table = tables.get(tableName);
    if (table === undefined) throw failed(line, 'No such file or directory');
    if (object === 'map' || object === 'set') return;
    if (object === 'chain') {
      chainCommand(table.chains, line, verb, name, (chain) =>
        [...table.egress.values()].some((element) => element.chain === chain),
      );
      return;
    }
    if (object === 'rule') {
      const rules = table.chains.get(name);
      if (rules === undefined) throw failed(line, 'No such file or directory');
      rules.push(words.slice(5).join(' '));
      return;
    }
    if (object === 'element' && name === portMapName) {
      this.runPortElement(table, verb ?? '', line);
      return;
    }
    if (object === 'element') {
      const match = /\{ (\S+)(?: comment "([^"]*)")?(?: : jump (\S+))? \}$/.exec(line);
      if (match === null) throw failed(line, 'syntax error');
      const [, address = '', vmId = '', chain = ''] = match;
      const elements: Map<string, unknown> =
        name === egressMapName ? table.egress : name === guestSetName ? table.guests : new Map();
      // Like nft, `create` refuses an element whose key is there already, whatever it holds.
      if (verb === 'create' && elements.has(address)) throw failed(line, 'Could not process rule: File exists');
      if (verb === 'delete') {
        if (!elements.has(address)) throw failed(line, 'No such file or directory');
        elements.delete(address);
      } else if (name === egressMapName) {
        if (!table.chains.has(chain)) throw failed(line, 'No such file or directory');
        table.egress.set(address, { vmId, chain });
      } else table.guests.set(address, vmId);
      return;
    }
    throw failed(line, 'syntax error');
  }

  private runBridge(tables: Map<string, FakeBridgeTable>, line: string): void {
    const words = line.split(' ');
    const [verb, object, , tableName = '', name = ''] = words;
    if (verb === 'add' && object === 'table') {
      if (!tables.has(tableName)) tables.set(tableName, { chains: new Map(), guard: new Map(), sets: new Map() });
      return;
    }
    const table = tables.get(tableName);
    if (table === undefined) throw failed(line, 'No such file or directory');
    if (object === 'map') return;
    if (object === 'set') {
      if (!table.sets.has(name)) table.sets.set(name, new Map());
      return;
    }
    if (object === 'chain') {
      chainCommand(table.chains, line, verb, name, (chain) =>
        [...table.guard.values()].some((element) => element.chain === chain),
      );
      return;
    }
    if (object === 'rule') {
      const rules = table.chains.get(name);
      if (rules === undefined) throw failed(line, 'No such file or directory');
      const rule = words.slice(5).join(' ');
      // Like nft, a rule may name only sets and maps that exist.
      for (const set of rule.match(/@(\S+)/g) ?? []) {
        if (set.slice(1) !== guardMapName && !table.sets.has(set.slice(1))) throw failed(line, 'No such file or directory');
      }
      rules.push(rule);
      return;
    }
    if (object === 'element') {
      const match = /\{ "([^"]+)"(?: comment "([^"]*)")?(?: : jump (\S+))? \}$/.exec(line);
      if (match === null) throw failed(line, 'syntax error');
      const [, tap = '', vmId = '', chain = ''] = match;
      // Like nft, `create` refuses an element whose key is there already, whatever it holds.
      const isThere = name === guardMapName ? table.guard.has(tap) : table.sets.get(name)?.has(tap) === true;
      if (verb === 'create' && isThere) throw failed(line, 'Could not process rule: File exists');
      if (name === guardMapName) {
        if (verb === 'delete') {
          if (!table.guard.delete(tap)) throw failed(line, 'No such file or directory');
        } else if (!table.chains.has(chain)) throw failed(line, 'No such file or directory');
        else table.guard.set(tap, { vmId, chain });
        return;
      }
      const set = table.sets.get(name);
      if (set === undefined) throw failed(line, 'No such file or directory');
      if (verb === 'delete') {
        if (!set.delete(tap)) throw failed(line, 'No such file or directory');
      } else set.set(tap, vmId);
      return;
    }
    throw failed(line, 'syntax error');
  }

  private runPortElement(table: FakeTable, verb: string, line: string): void {
    const match = /\{ (tcp|udp) \. (\d+)(?: comment "([^"]*)" : (\S+) \. (\d+))? \}$/.exec(line);
    if (match === null) throw failed(line, 'syntax error');
    const [, protocol = 'tcp', hostPort = '', vmId = '', address = '', guestPort = ''] = match;
    const key = `${protocol} . ${hostPort}`;
    if (verb === 'delete') {
      if (!table.ports.has(key)) throw failed(line, 'No such file or directory');
      table.ports.delete(key);
      return;
    }
    if (address === '') throw failed(line, 'syntax error');
    const existing = table.ports.get(key);
    if (verb === 'create' && existing !== undefined) throw failed(line, 'Could not process rule: File exists');
    if (existing !== undefined && (existing.address !== address || existing.guestPort !== Number(guestPort))) {
      throw failed(line, 'Could not process rule: File exists');
    }
    table.ports.set(key, {
      protocol: protocol === 'udp' ? 'udp' : 'tcp',
      hostPort: Number(hostPort),
      address,
      guestPort: Number(guestPort),
      vmId,
    });
  }

  async defaultRouteDevice(): Promise<string | null> {
    return this.uplink;
  }

  async isForwardingEnabled(): Promise<boolean> {
    return this.isForwarding;
  }
}
