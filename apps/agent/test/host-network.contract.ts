import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { HostNetwork } from '../src/application/ports/host-network.js';

export interface HostNetworkHarness {
  readonly network: HostNetwork;
  /** Creates a link the port did not create (another bridge on Linux). */
  addForeignLink(name: string): Promise<void>;
  cleanup(): Promise<void>;
}

/** One behaviour suite for every HostNetwork, so the fake cannot drift from LinuxHostNetwork. */
export function describeHostNetworkContract(
  name: string,
  createHarness: () => Promise<HostNetworkHarness>,
  options: { skip?: string } = {},
): void {
  describe.skipIf(options.skip !== undefined)(
    `HostNetwork contract: ${name}${options.skip === undefined ? '' : ` (skipped: ${options.skip})`}`,
    () => {
      let harness: HostNetworkHarness;

      beforeEach(async () => {
        harness = await createHarness();
      });

      afterEach(async () => {
        await harness?.cleanup();
      });

      it('ensureBridge creates the bridge and sets it up', async () => {
        await harness.network.ensureBridge('hbr0', null);

        expect(await harness.network.linkState('hbr0')).toMatchObject({ name: 'hbr0', isUp: true, master: null });
      });

      it('ensureBridge is idempotent and adds the address once', async () => {
        await harness.network.ensureBridge('hbr0', '172.30.9.1/24');
        await harness.network.ensureBridge('hbr0', '172.30.9.1/24');

        expect((await harness.network.linkState('hbr0'))?.addresses).toEqual(['172.30.9.1/24']);
      });

      it('createTap creates a TAP attached to the bridge and up', async () => {
        await harness.network.ensureBridge('hbr0', null);

        expect(await harness.network.createTap('fctest000000001', 'hbr0', 'hearth:agent_x:vm_1')).toBe('created');
        expect(await harness.network.linkState('fctest000000001')).toMatchObject({ isUp: true, master: 'hbr0' });
      });

      it('createTap answers name_taken for an existing link and leaves it alone', async () => {
        await harness.network.ensureBridge('hbr0', null);
        await harness.addForeignLink('fctaken');

        expect(await harness.network.createTap('fctaken', 'hbr0', 'hearth:agent_x:vm_1')).toBe('name_taken');
        expect(await harness.network.linkState('fctaken')).toMatchObject({ master: null });
      });

      it('deleteLink removes the link', async () => {
        await harness.network.ensureBridge('hbr0', null);
        await harness.network.createTap('fctest000000002', 'hbr0', 'hearth:agent_x:vm_2');

        await harness.network.deleteLink('fctest000000002');

        expect(await harness.network.linkExists('fctest000000002')).toBe(false);
      });

      it('createTap marks the TAP with its alias', async () => {
        await harness.network.ensureBridge('hbr0', null);
        await harness.network.createTap('fctest000000003', 'hbr0', 'hearth:agent_x:vm_3');

        expect((await harness.network.linkState('fctest000000003'))?.alias).toBe('hearth:agent_x:vm_3');
      });

      it('markedLinks finds the links with the mark prefix, and only them', async () => {
        await harness.network.ensureBridge('hbr0', null);
        await harness.network.createTap('fctest000000004', 'hbr0', 'hearth:agent_x:vm_4');
        await harness.network.createTap('fctest000000005', 'hbr0', 'hearth:agent_y:vm_5');
        await harness.addForeignLink('fcforeign');

        expect(await harness.network.markedLinks('hearth:agent_x:')).toEqual([
          { name: 'fctest000000004', alias: 'hearth:agent_x:vm_4' },
        ]);
      });

      it('createTap on a missing bridge fails and leaves no TAP behind', async () => {
        await expect(harness.network.createTap('fctest000000006', 'hbrnone', 'hearth:agent_x:vm_6')).rejects.toThrow();
        expect(await harness.network.linkExists('fctest000000006')).toBe(false);
      });

      it('deleteLink of a missing link is not an error', async () => {
        await expect(harness.network.deleteLink('fcnothere')).resolves.toBeUndefined();
      });

      it('linkState answers null for a missing link', async () => {
        expect(await harness.network.linkState('fcnothere')).toBeNull();
      });

      it('bridgeState answers the bridge from the list of bridges: up, with its addresses', async () => {
        await harness.network.ensureBridge('hbr0', '172.30.9.1/24');

        expect(await harness.network.bridgeState('hbr0')).toEqual({ name: 'hbr0', isUp: true, addresses: ['172.30.9.1/24'] });
      });

      it('bridgeState answers null for a missing bridge and for a link that is not one', async () => {
        await harness.network.ensureBridge('hbr0', null);
        await harness.network.createTap('fctest000000007', 'hbr0', 'hearth:agent_x:vm_7');

        expect(await harness.network.bridgeState('hbrnone')).toBeNull();
        expect(await harness.network.bridgeState('fctest000000007')).toBeNull();
      });

      it('bridgeState sees a bridge deleted since its last read', async () => {
        await harness.network.ensureBridge('hbr0', null);
        expect(await harness.network.bridgeState('hbr0')).toMatchObject({ name: 'hbr0' });

        await harness.network.deleteLink('hbr0');

        expect(await harness.network.bridgeState('hbr0')).toBeNull();
      });
    },
  );
}
