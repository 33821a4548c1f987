import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createNetns, missingRequirements, type Netns } from '@hearth/testkit';
import { emptyEgressTableState, vmEgressScript } from '../src/domain/egress-rules.js';
import { ExecFileCommandRunner } from '../src/adapters/linux/exec-file-command-runner.js';
import { NftHostFirewall } from '../src/adapters/linux/nft-host-firewall.js';
import { NftSession } from '../src/adapters/linux/nft-session.js';
import { describeHostFirewallContract } from './host-firewall.contract.js';

const skip = missingRequirements({ root: true, commands: ['ip', 'nft'] });

function foreignTable(netns: Netns) {
  return {
    addForeignTable: async () => {
      await netns.exec([
        'nft',
        'add table inet other\nadd chain inet other input\nadd rule inet other input tcp dport 22 accept',
      ]);
    },
    hasForeignTable: async () => {
      const { stdout } = await netns.exec(['nft', 'list', 'table', 'inet', 'other']);
      return /tcp dport 22 accept/.test(stdout);
    },
  };
}

describeHostFirewallContract(
  'NftHostFirewall in a throwaway network namespace',
  async () => {
    const netns = await createNetns();
    return {
      firewall: new NftHostFirewall(new ExecFileCommandRunner(), { netns: netns.name }),
      ...foreignTable(netns),
      cleanup: () => netns.destroy(),
    };
  },
  skip === undefined ? {} : { skip },
);

describeHostFirewallContract(
  'NftHostFirewall with a long-lived nft session, in a throwaway network namespace',
  async () => {
    const netns = await createNetns();
    const session = new NftSession({ prefix: ['ip', 'netns', 'exec', netns.name] });
    return {
      firewall: new NftHostFirewall(new ExecFileCommandRunner(), { netns: netns.name, session }),
      ...foreignTable(netns),
      cleanup: async () => {
        await session.close();
        await netns.destroy();
      },
    };
  },
  skip === undefined ? {} : { skip },
);

describeHostFirewallContract(
  'NftHostFirewall with a long-lived nft session that includes each change from a file, in a throwaway network namespace',
  async () => {
    const netns = await createNetns();
    const directory = await mkdtemp(path.join(tmpdir(), 'hearth-nft-scripts-'));
    const session = new NftSession({ prefix: ['ip', 'netns', 'exec', netns.name], scriptDirectory: path.join(directory, 'nft') });
    return {
      firewall: new NftHostFirewall(new ExecFileCommandRunner(), { netns: netns.name, session }),
      ...foreignTable(netns),
      cleanup: async () => {
        await session.close();
        await netns.destroy();
        await rm(directory, { recursive: true, force: true });
      },
    };
  },
  skip === undefined ? {} : { skip },
);

describe.skipIf(skip !== undefined)(`A VM's rules on real nft${skip === undefined ? '' : ` (skipped: ${skip})`}`, () => {
  let netns: Netns | undefined;

  afterEach(async () => {
    await netns?.destroy();
    netns = undefined;
  });

  it('make no set of their own: a port list is one rule per port, the guard refers to the named sets', async () => {
    netns = await createNetns();
    const firewall = new NftHostFirewall(new ExecFileCommandRunner(), { netns: netns.name });
    const vmId = 'vm_01JABCDEFGHJKMNPQRSTVWXYZ0';
    await firewall.apply(
      vmEgressScript(
        { name: 'hearth', uplink: 'eth0' },
        {
          vmId,
          address: '172.30.0.5',
          policy: {
            mode: 'allow_list',
            rules: [
              { cidr: '203.0.113.0/24', protocol: 'tcp', ports: [80, 443] },
              { cidr: '0.0.0.0/0', protocol: 'udp', ports: [53] },
            ],
          },
          guard: { tap: 'fctest0', mac: '06:00:ac:10:00:05', sharedSet: null },
        },
        emptyEgressTableState,
      ),
    );

    // An anonymous set is a rule's `{ … }`: `"set"` in the rule's JSON (a named one is `"@name"`).
    const rulesOf = async (family: string): Promise<string[]> => {
      const { stdout } = await netns!.exec(['nft', '-j', 'list', 'chain', family, 'hearth', vmId]);
      const objects = (JSON.parse(stdout) as { nftables: { rule?: { expr: unknown[] } }[] }).nftables;
      return objects.flatMap((object) => (object.rule === undefined ? [] : [JSON.stringify(object.rule.expr)]));
    };
    const [ipRules, bridgeRules] = [await rulesOf('ip'), await rulesOf('bridge')];

    expect(ipRules).toHaveLength(4);
    expect(bridgeRules.some((rule) => rule.includes('"@guest_types"'))).toBe(true);
    expect([...ipRules, ...bridgeRules].filter((rule) => rule.includes('"set"'))).toEqual([]);
    const { stdout: chain } = await netns.exec(['nft', 'list', 'chain', 'ip', 'hearth', vmId]);
    expect(chain.match(/dport \d+ accept/g)).toEqual(['dport 80 accept', 'dport 443 accept', 'dport 53 accept']);
  });
});
