import type { EgressTableState, VmTableKeys } from '../../domain/egress-rules.js';

/** Which of Hearth's two tables of one name a read covers. */
export type TableFamilies = 'ip_and_bridge' | 'ip' | 'bridge';

/** The host's packet filter (nftables), limited to Hearth's own table, and the routing facts NAT needs. */
export interface HostFirewall {
  /**
   * What the table holds per VM; empty when the table does not exist. With `families` `ip` (or
   * `bridge`), only that table is read (the other one is answered empty): one nft run, not two.
   * For the sweep, which looks for VMs no record names; one VM's work reads `readVmEntries`.
   */
  readTable(table: string, families?: TableFamilies): Promise<EgressTableState>;
  /**
   * What the table holds of one VM (`vmTableEntries` of the whole table): its chains and the
   * elements of its id or its keys, without reading any other VM's chain. Empty parts for a table,
   * map, set or chain that does not exist. `families` as for `readTable`.
   */
  readVmEntries(table: string, keys: VmTableKeys, families?: TableFamilies): Promise<EgressTableState>;
  /** Applies one script as one transaction: all of it or none of it. */
  apply(script: string): Promise<void>;
  /** The interface of the default IPv4 route, or null when there is none. */
  defaultRouteDevice(): Promise<string | null>;
  /** `net.ipv4.ip_forward`: without it no guest packet leaves by the uplink. */
  isForwardingEnabled(): Promise<boolean>;
}
