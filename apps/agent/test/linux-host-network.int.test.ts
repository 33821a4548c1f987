import { createNetns, missingRequirements } from '@hearth/testkit';
import { ExecFileCommandRunner } from '../src/adapters/linux/exec-file-command-runner.js';
import { IpBatch } from '../src/adapters/linux/ip-batch.js';
import { IpJsonReader } from '../src/adapters/linux/ip-json-reader.js';
import { LinuxHostNetwork } from '../src/adapters/linux/linux-host-network.js';
import { describeHostNetworkContract } from './host-network.contract.js';

const skip = missingRequirements({ root: true, commands: ['ip'] });

describeHostNetworkContract(
  'LinuxHostNetwork in a throwaway network namespace',
  async () => {
    const netns = await createNetns();
    const runner = new ExecFileCommandRunner({ prefix: ['ip', 'netns', 'exec', netns.name] });
    return {
      network: new LinuxHostNetwork(runner),
      addForeignLink: async (name) => {
        await netns.exec(['ip', 'link', 'add', name, 'type', 'bridge']);
      },
      cleanup: () => netns.destroy(),
    };
  },
  skip === undefined ? {} : { skip },
);

describeHostNetworkContract(
  'LinuxHostNetwork with its changes through ip -batch',
  async () => {
    const netns = await createNetns();
    const runner = new ExecFileCommandRunner({ prefix: ['ip', 'netns', 'exec', netns.name] });
    const batch = new IpBatch({ netns: netns.name });
    return {
      network: new LinuxHostNetwork(runner, { batch }),
      addForeignLink: async (name) => {
        await netns.exec(['ip', 'link', 'add', name, 'type', 'bridge']);
      },
      cleanup: async () => {
        await batch.close();
        await netns.destroy();
      },
    };
  },
  skip === undefined ? {} : { skip },
);

describeHostNetworkContract(
  'LinuxHostNetwork with its changes through ip -batch and its reads through a long-lived ip -j',
  async () => {
    const netns = await createNetns();
    const runner = new ExecFileCommandRunner({ prefix: ['ip', 'netns', 'exec', netns.name] });
    const batch = new IpBatch({ netns: netns.name });
    const reader = new IpJsonReader({ netns: netns.name });
    return {
      network: new LinuxHostNetwork(runner, { batch, reader }),
      addForeignLink: async (name) => {
        await netns.exec(['ip', 'link', 'add', name, 'type', 'bridge']);
      },
      cleanup: async () => {
        await batch.close();
        await reader.close();
        await netns.destroy();
      },
    };
  },
  skip === undefined ? {} : { skip },
);

describeHostNetworkContract(
  'LinuxHostNetwork with its changes through ip -batch and the list of every link through a long-lived ip -j (as the Agent runs it)',
  async () => {
    const netns = await createNetns();
    const runner = new ExecFileCommandRunner({ prefix: ['ip', 'netns', 'exec', netns.name] });
    const batch = new IpBatch({ netns: netns.name });
    const reader = new IpJsonReader({ netns: netns.name });
    return {
      network: new LinuxHostNetwork(runner, { batch, reader, readerUse: 'link-list' }),
      addForeignLink: async (name) => {
        await netns.exec(['ip', 'link', 'add', name, 'type', 'bridge']);
      },
      cleanup: async () => {
        await batch.close();
        await reader.close();
        await netns.destroy();
      },
    };
  },
  skip === undefined ? {} : { skip },
);
