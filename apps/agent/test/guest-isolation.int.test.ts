import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNetns, missingRequirements, type Netns } from '@hearth/testkit';
import { ExecFileCommandRunner } from '../src/adapters/linux/exec-file-command-runner.js';
import { LinuxHostNetwork } from '../src/adapters/linux/linux-host-network.js';
import { NftHostFirewall } from '../src/adapters/linux/nft-host-firewall.js';
import { removeVmsScript, sharedSetName, vmEgressScript } from '../src/domain/egress-rules.js';

const skip = missingRequirements({ root: true, commands: ['ip', 'nft', 'ping'] });

const table = { name: 'hearth', uplink: 'lo' };
const guests = [
  { vmId: 'vm_01JABCDEFGHJKMNPQRSTVWXYZ0', tap: 'gva', mac: '02:fc:00:00:00:0a', address: '172.30.0.10' },
  { vmId: 'vm_01JABCDEFGHJKMNPQRSTVWXYZ1', tap: 'gvb', mac: '02:fc:00:00:00:0b', address: '172.30.0.11' },
] as const;

describe.skipIf(skip !== undefined)(
  `guest isolation on one bridge, with a namespace per guest${skip === undefined ? '' : ` (skipped: ${skip})`}`,
  () => {
    const namespaces: Netns[] = [];
    let host: Netns;
    let firewall: NftHostFirewall;
    const guestNs: Netns[] = [];

    /** One ping from a guest's namespace: true when it was answered. */
    const reaches = (from: number, address: string, source?: string): Promise<boolean> =>
      guestNs[from]!.exec(['ping', '-c', '1', '-W', '1', ...(source === undefined ? [] : ['-I', source]), address], {
        timeoutMs: 10_000,
      }).then(
        () => true,
        () => false,
      );

    const guard = async (index: number, sharedNetwork: string | null): Promise<void> => {
      const guest = guests[index]!;
      const state = await firewall.readTable(table.name);
      const sharedSet = sharedNetwork === null ? null : sharedSetName(sharedNetwork);
      await firewall.apply(
        vmEgressScript(
          table,
          {
            vmId: guest.vmId,
            address: guest.address,
            policy: { mode: 'allow_all' },
            guard: { tap: guest.tap, mac: guest.mac, sharedSet },
          },
          state,
        ),
      );
    };

    beforeAll(async () => {
      host = await createNetns();
      namespaces.push(host);
      const runner = new ExecFileCommandRunner({ prefix: ['ip', 'netns', 'exec', host.name] });
      firewall = new NftHostFirewall(runner);
      await new LinuxHostNetwork(runner).ensureBridge('hbr0', '172.30.0.1/16');
      for (const guest of guests) {
        const netns = await createNetns();
        namespaces.push(netns);
        guestNs.push(netns);
        // The guest's interface, on the bridge as the VM's TAP would be.
        await host.exec(['ip', 'link', 'add', guest.tap, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns.name]);
        await host.exec(['ip', 'link', 'set', guest.tap, 'master', 'hbr0', 'up']);
        await netns.exec(['ip', 'link', 'set', 'eth0', 'address', guest.mac]);
        await netns.exec(['ip', 'addr', 'add', `${guest.address}/16`, 'dev', 'eth0']);
        await netns.exec(['ip', 'link', 'set', 'eth0', 'up']);
      }
    }, 60_000);

    afterAll(async () => {
      for (const netns of namespaces) await netns.destroy();
    });

    it('without guards two guests on one bridge reach each other (what the guards change)', async () => {
      expect(await reaches(0, guests[1].address)).toBe(true);
    });

    it('guarded guests in no shared network reach the host but not each other', async () => {
      await guard(0, null);
      await guard(1, null);

      expect(await reaches(0, '172.30.0.1')).toBe(true);
      expect(await reaches(0, guests[1].address)).toBe(false);
      expect(await reaches(1, guests[0].address)).toBe(false);
    });

    it('guests that both joined one shared network reach each other; one of another network does not', async () => {
      await guard(0, 'default/backend');
      await guard(1, 'other/backend');
      expect(await reaches(0, guests[1].address)).toBe(false);

      await guard(1, 'default/backend');
      expect(await reaches(0, guests[1].address)).toBe(true);
    });

    it('a guest that takes another address or another MAC is cut off', async () => {
      await guestNs[0]!.exec(['ip', 'addr', 'add', '172.30.0.99/16', 'dev', 'eth0']);
      expect(await reaches(0, '172.30.0.1', guests[0].address)).toBe(true);
      expect(await reaches(0, '172.30.0.1', '172.30.0.99')).toBe(false);

      await guestNs[1]!.exec(['ip', 'link', 'set', 'eth0', 'address', '02:fc:00:00:00:ee']);
      expect(await reaches(1, '172.30.0.1')).toBe(false);
      await guestNs[1]!.exec(['ip', 'link', 'set', 'eth0', 'address', guests[1].mac]);
    });

    it("removing a VM's rules leaves nothing of it in the bridge table", async () => {
      const state = await firewall.readTable(table.name);
      await firewall.apply(removeVmsScript(table.name, new Set(guests.map((guest) => guest.vmId)), state) ?? '');

      const after = await firewall.readTable(table.name);
      expect([after.guardChains, after.guardElements, after.tapElements]).toEqual([[], [], []]);
    });
  },
);
