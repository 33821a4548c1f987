import { createNetns, missingRequirements } from '@hearth/testkit';
import { ExecFileCommandRunner } from '../src/adapters/linux/exec-file-command-runner.js';
import { IpBatch } from '../src/adapters/linux/ip-batch.js';
import { IpJsonReader } from '../src/adapters/linux/ip-json-reader.js';
import { LinuxHostNetwork, type IpReaderUse } from '../src/adapters/linux/linux-host-network.js';
import { describeHostNetworkContract } from './host-network.contract.js';

const skip = missingRequirements({ root: true, commands: ['ip'] });

/**
 * `LinuxHostNetwork` in a throwaway network namespace, with its changes through a long-lived
 * `ip -batch` or not, and its reads (all, or the list of every link alone) through a long-lived
 * `ip -j` or not.
 */
function inNetns(options: { readonly batch: boolean; readonly readerUse?: IpReaderUse }) {
  return async () => {
    const netns = await createNetns();
    const runner = new ExecFileCommandRunner({ prefix: ['ip', 'netns', 'exec', netns.name] });
    const batch = options.batch ? new IpBatch({ netns: netns.name }) : undefined;
    // As the Agent runs it: without details when it only lists every link.
    const reader =
      options.readerUse === undefined
        ? undefined
        : new IpJsonReader({ netns: netns.name, isDetailed: options.readerUse !== 'link-list' });
    return {
      network: new LinuxHostNetwork(runner, { batch, reader, readerUse: options.readerUse }),
      addForeignLink: async (name: string) => {
        await netns.exec(['ip', 'link', 'add', name, 'type', 'bridge']);
      },
      cleanup: async () => {
        await batch?.close();
        await reader?.close();
        await netns.destroy();
      },
    };
  };
}

const skipOption = skip === undefined ? {} : { skip };

describeHostNetworkContract('LinuxHostNetwork in a throwaway network namespace', inNetns({ batch: false }), skipOption);

describeHostNetworkContract('LinuxHostNetwork with its changes through ip -batch', inNetns({ batch: true }), skipOption);

describeHostNetworkContract(
  'LinuxHostNetwork with its changes through ip -batch and its reads through a long-lived ip -j',
  inNetns({ batch: true, readerUse: 'every-read' }),
  skipOption,
);

describeHostNetworkContract(
  'LinuxHostNetwork with its changes through ip -batch and the list of every link through a long-lived ip -j (as the Agent runs it)',
  inNetns({ batch: true, readerUse: 'link-list' }),
  skipOption,
);
