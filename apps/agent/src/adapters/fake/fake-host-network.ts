import { AppError } from '@hearth/errors';
import type { BridgeState, HostNetwork, LinkState, MarkedLink } from '../../application/ports/host-network.js';

interface FakeLink {
  kind: 'bridge' | 'tap' | 'other';
  isUp: boolean;
  master: string | null;
  addresses: string[];
  alias: string | null;
}

/** In-memory links with the same observable behaviour as LinuxHostNetwork (see the contract suite). */
export class FakeHostNetwork implements HostNetwork {
  readonly links = new Map<string, FakeLink>();
  /** Names whose deletion fails, to exercise cleanup leftovers. */
  readonly undeletable = new Set<string>();
  commandCount = 0;

  /** A link created by someone else (not through this port). */
  addForeignLink(name: string, options: { readonly master?: string; readonly alias?: string } = {}): void {
    this.links.set(name, {
      kind: 'other',
      isUp: false,
      master: options.master ?? null,
      addresses: [],
      alias: options.alias ?? null,
    });
  }

  /** A TAP marked but never attached, as an Agent killed between marking and attaching leaves it. */
  addDetachedTap(name: string, alias: string): void {
    this.links.set(name, { kind: 'tap', isUp: false, master: null, addresses: [], alias });
  }

  async ensureBridge(bridge: string, addressCidr: string | null): Promise<void> {
    this.commandCount += 1;
    const link = this.links.get(bridge) ?? { kind: 'bridge' as const, isUp: false, master: null, addresses: [], alias: null };
    link.isUp = true;
    if (addressCidr !== null && !link.addresses.includes(addressCidr)) link.addresses.push(addressCidr);
    this.links.set(bridge, link);
  }

  async linkExists(name: string): Promise<boolean> {
    return this.links.has(name);
  }

  async linkState(name: string): Promise<LinkState | null> {
    const link = this.links.get(name);
    return link === undefined
      ? null
      : { name, isUp: link.isUp, master: link.master, addresses: [...link.addresses], alias: link.alias };
  }

  async bridgeState(bridge: string): Promise<BridgeState | null> {
    const link = this.links.get(bridge);
    return link?.kind !== 'bridge' ? null : { name: bridge, isUp: link.isUp, addresses: [...link.addresses] };
  }

  async createTap(name: string, bridge: string, mark: string): Promise<'created' | 'name_taken'> {
    this.commandCount += 1;
    if (this.links.has(name)) return 'name_taken';
    if (!this.links.has(bridge)) {
      throw new AppError('HOST_COMMAND_FAILED', 'A host command failed (exit status 1)', {
        details: { exitCode: 1, signal: null },
        diagnostics: { argv: ['fake'], stderr: `Device "${bridge}" does not exist` },
      });
    }
    this.links.set(name, { kind: 'tap', isUp: true, master: bridge, addresses: [], alias: mark });
    return 'created';
  }

  async markedLinks(markPrefix: string): Promise<MarkedLink[]> {
    return [...this.links].flatMap(([name, link]) =>
      link.alias !== null && link.alias.startsWith(markPrefix) ? [{ name, alias: link.alias }] : [],
    );
  }

  async deleteLink(name: string): Promise<void> {
    this.commandCount += 1;
    if (this.undeletable.has(name)) {
      throw new AppError('HOST_COMMAND_FAILED', 'A host command failed (exit status 2)', {
        details: { exitCode: 2, signal: null },
        diagnostics: { argv: ['ip', 'link', 'del', 'dev', name], stderr: 'Operation not permitted' },
      });
    }
    this.links.delete(name);
  }
}
