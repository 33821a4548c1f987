import { FakeHostFirewall } from '../src/adapters/fake/fake-host-firewall.js';
import { describeHostFirewallContract } from './host-firewall.contract.js';

describeHostFirewallContract('FakeHostFirewall', async () => {
  const firewall = new FakeHostFirewall();
  return {
    firewall,
    addForeignTable: () => firewall.apply('add table ip other\nadd chain ip other input\nadd rule ip other input accept\n'),
    hasForeignTable: async () => firewall.chainRules('other', 'input')?.join() === 'accept',
    cleanup: async () => undefined,
  };
});
