import { isAppError } from '@hearth/errors';
import type { CommandRunner } from '../../application/ports/command-runner.js';
import type { HostFirewall } from '../../application/ports/host-firewall.js';
import { egressMapName, emptyEgressTableState, guestSetName, type EgressTableState } from '../../domain/egress-rules.js';

type NftElement = string | { readonly elem?: { readonly val?: string; readonly comment?: string } };
interface NftObject {
  readonly chain?: { readonly name: string };
  readonly map?: {
    readonly name: string;
    readonly elem?: readonly (readonly [NftElement, { readonly jump?: { readonly target?: string } }])[];
  };
  readonly set?: { readonly name: string; readonly elem?: readonly NftElement[] };
}

function elementValue(element: NftElement): { readonly address: string; readonly comment: string } {
  if (typeof element === 'string') return { address: element, comment: '' };
  return { address: element.elem?.val ?? '', comment: element.elem?.comment ?? '' };
}

function isMissingTable(error: unknown): boolean {
  if (!isAppError(error) || error.code !== 'HOST_COMMAND_FAILED') return false;
  return /No such file or directory/i.test(String(error.diagnostics?.['stderr'] ?? ''));
}

/**
 * nftables through `nft` (each script one argument: nft runs one invocation as one transaction),
 * the default route through `ip -j route`, forwarding through `sysctl`. In a named namespace when
 * given one, as the bridge and the TAPs are.
 */
export class NftHostFirewall implements HostFirewall {
  private readonly prefix: readonly string[];

  constructor(
    private readonly runner: CommandRunner,
    options: { readonly netns?: string | null } = {},
  ) {
    this.prefix = options.netns ? ['ip', 'netns', 'exec', options.netns] : [];
  }

  async readTable(table: string): Promise<EgressTableState> {
    let stdout: string;
    try {
      ({ stdout } = await this.runner.run([...this.prefix, 'nft', '-j', 'list', 'table', 'ip', table]));
    } catch (error) {
      if (isMissingTable(error)) return emptyEgressTableState;
      throw error;
    }
    const objects = (JSON.parse(stdout) as { nftables?: NftObject[] }).nftables ?? [];
    const vmChains: string[] = [];
    const egressElements: { address: string; chain: string }[] = [];
    const guestElements: { address: string; vmId: string }[] = [];
    for (const object of objects) {
      if (object.chain !== undefined && object.chain.name.startsWith('vm_')) vmChains.push(object.chain.name);
      if (object.map?.name === egressMapName) {
        for (const [key, verdict] of object.map.elem ?? []) {
          egressElements.push({ address: elementValue(key).address, chain: verdict.jump?.target ?? '' });
        }
      }
      if (object.set?.name === guestSetName) {
        for (const element of object.set.elem ?? []) {
          const { address, comment } = elementValue(element);
          guestElements.push({ address, vmId: comment });
        }
      }
    }
    return { vmChains, egressElements, guestElements };
  }

  async apply(script: string): Promise<void> {
    await this.runner.run([...this.prefix, 'nft', script]);
  }

  async defaultRouteDevice(): Promise<string | null> {
    const { stdout } = await this.runner.run([...this.prefix, 'ip', '-j', '-4', 'route', 'show', 'default']);
    const routes = JSON.parse(stdout.trim() === '' ? '[]' : stdout) as { readonly dev?: string }[];
    return routes.find((route) => typeof route.dev === 'string')?.dev ?? null;
  }

  async isForwardingEnabled(): Promise<boolean> {
    const { stdout } = await this.runner.run([...this.prefix, 'sysctl', '-n', 'net.ipv4.ip_forward']);
    return stdout.trim() === '1';
  }
}
