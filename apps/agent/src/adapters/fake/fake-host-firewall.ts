import { AppError } from '@hearth/errors';
import type { HostFirewall } from '../../application/ports/host-firewall.js';
import { egressMapName, guestSetName, portMapName, type EgressTableState, type PortElement } from '../../domain/egress-rules.js';

interface FakeTable {
  readonly chains: Map<string, string[]>;
  /** address → [vm id of the comment, jump target] */
  readonly egress: Map<string, { vmId: string; chain: string }>;
  readonly guests: Map<string, string>;
  /** `tcp . 8080` → the element */
  readonly ports: Map<string, PortElement>;
}

function failed(line: string, reason: string): AppError {
  return new AppError('HOST_COMMAND_FAILED', 'A host command failed (exit status 1)', {
    details: { exitCode: 1, signal: null },
    diagnostics: { argv: ['nft', line], stderr: `Error: ${reason}` },
  });
}

/**
 * Hearth's nftables tables in memory. It understands the commands the script builder writes, applies
 * a script all or nothing, and fails as nft does on deleting what is not there (see the contract suite).
 */
export class FakeHostFirewall implements HostFirewall {
  readonly tables = new Map<string, FakeTable>();
  /** The rules of each chain as written, for assertions on policies. */
  uplink: string | null = 'eth0';
  isForwarding = true;
  applyCount = 0;
  /** When set, the next apply fails before changing anything. */
  failNextApply = false;

  async readTable(table: string): Promise<EgressTableState> {
    const found = this.tables.get(table);
    if (found === undefined) return { vmChains: [], egressElements: [], guestElements: [], portElements: [] };
    return {
      vmChains: [...found.chains.keys()].filter((chain) => chain.startsWith('vm_')),
      egressElements: [...found.egress].map(([address, element]) => ({ address, chain: element.chain })),
      guestElements: [...found.guests].map(([address, vmId]) => ({ address, vmId })),
      portElements: [...found.ports.values()],
    };
  }

  /** The rules of one chain, or undefined when it does not exist. */
  chainRules(table: string, chain: string): readonly string[] | undefined {
    return this.tables.get(table)?.chains.get(chain);
  }

  async apply(script: string): Promise<void> {
    this.applyCount += 1;
    if (this.failNextApply) {
      this.failNextApply = false;
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
    for (const line of script.split('\n').filter((text) => text.trim() !== '')) this.run(next, line);
    this.tables.clear();
    for (const [name, table] of next) this.tables.set(name, table);
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
      const rules = table.chains.get(name);
      if (verb === 'add') {
        if (rules === undefined) table.chains.set(name, []);
      } else if (rules === undefined) throw failed(line, 'No such file or directory');
      else if (verb === 'flush') table.chains.set(name, []);
      else if (verb === 'delete') {
        if (rules.length > 0 || [...table.egress.values()].some((element) => element.chain === name))
          throw failed(line, 'Device or resource busy');
        table.chains.delete(name);
      }
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
