import { createNetns, missingRequirements, type Netns } from '@hearth/testkit';
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
