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

        expect(await harness.network.createTap('fctest000000001', 'hbr0')).toBe('created');
        expect(await harness.network.linkState('fctest000000001')).toMatchObject({ isUp: true, master: 'hbr0' });
      });

      it('createTap answers name_taken for an existing link and leaves it alone', async () => {
        await harness.network.ensureBridge('hbr0', null);
        await harness.addForeignLink('fctaken');

        expect(await harness.network.createTap('fctaken', 'hbr0')).toBe('name_taken');
        expect(await harness.network.linkState('fctaken')).toMatchObject({ master: null });
      });

      it('deleteLink removes the link', async () => {
        await harness.network.ensureBridge('hbr0', null);
        await harness.network.createTap('fctest000000002', 'hbr0');

        await harness.network.deleteLink('fctest000000002');

        expect(await harness.network.linkExists('fctest000000002')).toBe(false);
      });

      it('deleteLink of a missing link is not an error', async () => {
        await expect(harness.network.deleteLink('fcnothere')).resolves.toBeUndefined();
      });

      it('linkState answers null for a missing link', async () => {
        expect(await harness.network.linkState('fcnothere')).toBeNull();
      });
    },
  );
}
