import { FakeHostNetwork } from '../src/adapters/fake/fake-host-network.js';
import { describeHostNetworkContract } from './host-network.contract.js';

describeHostNetworkContract('FakeHostNetwork', async () => {
  const network = new FakeHostNetwork();
  return {
    network,
    addForeignLink: async (name) => network.addForeignLink(name),
    cleanup: async () => undefined,
  };
});
