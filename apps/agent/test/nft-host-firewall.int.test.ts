import { createNetns, hasCommand, isRoot } from '@hearth/testkit';
import { ExecFileCommandRunner } from '../src/adapters/linux/exec-file-command-runner.js';
import { NftHostFirewall } from '../src/adapters/linux/nft-host-firewall.js';
import { describeHostFirewallContract } from './host-firewall.contract.js';

const skip = !isRoot
  ? 'needs root'
  : !hasCommand('ip')
    ? 'needs iproute2 (ip)'
    : !hasCommand('nft')
      ? 'needs nftables (nft)'
      : undefined;

describeHostFirewallContract(
  'NftHostFirewall in a throwaway network namespace',
  async () => {
    const netns = await createNetns();
    return {
      firewall: new NftHostFirewall(new ExecFileCommandRunner(), { netns: netns.name }),
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
      cleanup: () => netns.destroy(),
    };
  },
  skip === undefined ? {} : { skip },
);
