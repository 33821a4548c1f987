import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { HostRepository } from '../application/ports/host-repository.js';
import type { TrustRepository } from '../application/ports/trust-repository.js';
import type { HostId } from '../domain/ids.js';
import { codeOf } from './rejections.js';
import { agentIdFor, hostCapacity, hostFacts } from './world.js';

export interface TrustRepositoryHarness {
  readonly trust: TrustRepository;
  readonly hosts: HostRepository;
  close(): Promise<void>;
}

const t0 = new Date('2026-01-01T00:00:00.000Z');
const at = (seconds: number): Date => new Date(t0.getTime() + seconds * 1000);
const ulid = (n: number): string => String(n).padStart(26, '0');

/** The behaviour every TrustRepository shares (fake, PGlite, PostgreSQL). */
export function describeTrustRepositoryContract(name: string, open: () => Promise<TrustRepositoryHarness>): void {
  describe(`trust repository contract: ${name}`, () => {
    let harness: TrustRepositoryHarness;
    let count = 0;

    beforeEach(async () => {
      harness = await open();
    });

    afterEach(async () => {
      await harness.close();
    });

    async function token(options: { expiresAt?: Date } = {}): Promise<string> {
      count += 1;
      const tokenHash = `hash-of-token-${count}`;
      await harness.trust.createJoinToken({
        id: `jtk_${ulid(count)}`,
        tokenHash,
        createdAt: at(0),
        expiresAt: options.expiresAt ?? at(3600),
      });
      return tokenHash;
    }

    function credential(agentNumber: number): { id: string; agentId: string; secretHash: string } {
      count += 1;
      return { id: `cred_${ulid(count)}`, agentId: agentIdFor(agentNumber), secretHash: `hash-of-secret-${count}` };
    }

    it('join uses the token and records the credential, found by its secret hash', async () => {
      const tokenHash = await token();
      const joining = credential(1);
      expect(await harness.trust.join({ tokenHash, at: at(10), publicKeySha256: 'key-1', credential: joining })).toEqual({
        id: joining.id,
        agentId: joining.agentId,
      });
      expect(await harness.trust.findCredential(joining.secretHash)).toEqual({ id: joining.id, agentId: joining.agentId });
    });

    it('join refuses a token used once already', async () => {
      const tokenHash = await token();
      await harness.trust.join({ tokenHash, at: at(10), publicKeySha256: 'key-1', credential: credential(1) });
      expect(
        await codeOf(harness.trust.join({ tokenHash, at: at(11), publicKeySha256: 'key-1', credential: credential(2) })),
      ).toBe('JOIN_TOKEN_USED');
    });

    it('join answers the same Agent with the same key again, replacing the credential it never got, until a host registers with it', async () => {
      const tokenHash = await token();
      const first = credential(3);
      await harness.trust.join({ tokenHash, at: at(10), publicKeySha256: 'key-3', credential: first });
      const second = { ...credential(3), agentId: first.agentId };
      expect(await harness.trust.join({ tokenHash, at: at(11), publicKeySha256: 'key-3', credential: second })).toEqual({
        id: second.id,
        agentId: first.agentId,
      });
      expect(await harness.trust.findCredential(first.secretHash)).toBeUndefined();
      expect(await harness.trust.findCredential(second.secretHash)).toEqual({ id: second.id, agentId: first.agentId });
      // Another key, or another Agent, with the same token: used.
      const otherKey = { ...credential(3), agentId: first.agentId };
      expect(await codeOf(harness.trust.join({ tokenHash, at: at(12), publicKeySha256: 'key-9', credential: otherKey }))).toBe(
        'JOIN_TOKEN_USED',
      );
      expect(
        await codeOf(harness.trust.join({ tokenHash, at: at(12), publicKeySha256: 'key-3', credential: credential(4) })),
      ).toBe('JOIN_TOKEN_USED');
      expect(await harness.trust.findCredential(second.secretHash)).toEqual({ id: second.id, agentId: first.agentId });
      await harness.hosts.register({
        newId: `host_${ulid(count)}` as HostId,
        name: `node-${count}`,
        agentId: first.agentId,
        credentialId: second.id,
        aliveIfHeartbeatSince: at(0),
        addr: 'https://10.0.0.3:19090',
        capacity: hostCapacity(),
        facts: hostFacts(),
        at: at(13),
      });
      const third = { ...credential(3), agentId: first.agentId };
      expect(await codeOf(harness.trust.join({ tokenHash, at: at(14), publicKeySha256: 'key-3', credential: third }))).toBe(
        'JOIN_TOKEN_USED',
      );
      expect(await harness.trust.findCredential(second.secretHash)).toEqual({ id: second.id, agentId: first.agentId });
    });

    it('join does not answer again once the token has expired', async () => {
      const tokenHash = await token({ expiresAt: at(60) });
      const first = credential(5);
      await harness.trust.join({ tokenHash, at: at(10), publicKeySha256: 'key-5', credential: first });
      const late = { ...credential(5), agentId: first.agentId };
      expect(await codeOf(harness.trust.join({ tokenHash, at: at(60), publicKeySha256: 'key-5', credential: late }))).toBe(
        'JOIN_TOKEN_USED',
      );
      expect(await harness.trust.findCredential(first.secretHash)).toEqual({ id: first.id, agentId: first.agentId });
    });

    it('join refuses an expired token', async () => {
      const tokenHash = await token({ expiresAt: at(60) });
      const joining = credential(1);
      expect(await codeOf(harness.trust.join({ tokenHash, at: at(60), publicKeySha256: 'key-1', credential: joining }))).toBe(
        'JOIN_TOKEN_EXPIRED',
      );
      expect(await harness.trust.findCredential(joining.secretHash)).toBeUndefined();
    });

    it('join refuses a token never issued', async () => {
      expect(
        await codeOf(
          harness.trust.join({ tokenHash: 'never-issued', at: at(1), publicKeySha256: 'key-1', credential: credential(1) }),
        ),
      ).toBe('JOIN_TOKEN_INVALID');
    });

    it('join refuses an Agent identity that joined already, and leaves the token unused', async () => {
      await harness.trust.join({ tokenHash: await token(), at: at(1), publicKeySha256: 'key-1', credential: credential(1) });
      const tokenHash = await token();
      const again = credential(1);
      expect(await codeOf(harness.trust.join({ tokenHash, at: at(2), publicKeySha256: 'key-1', credential: again }))).toBe(
        'AGENT_ALREADY_JOINED',
      );
      expect(await harness.trust.findCredential(again.secretHash)).toBeUndefined();
      await harness.trust.join({ tokenHash, at: at(3), publicKeySha256: 'key-1', credential: credential(2) });
    });

    it("removing a host deletes its Agent's credential, and the identity may join again", async () => {
      const joining = credential(7);
      await harness.trust.join({ tokenHash: await token(), at: at(1), publicKeySha256: 'key-1', credential: joining });
      const host = await harness.hosts.register({
        newId: `host_${ulid(count)}` as HostId,
        name: `node-${count}`,
        agentId: joining.agentId,
        credentialId: joining.id,
        aliveIfHeartbeatSince: at(0),
        addr: 'https://10.0.0.7:19090',
        capacity: hostCapacity(),
        facts: hostFacts(),
        at: at(2),
      });
      expect(host.credentialId).toBe(joining.id);
      await harness.hosts.remove(host.id, { at: at(3), message: 'gone' });
      expect(await harness.trust.findCredential(joining.secretHash)).toBeUndefined();
      const rejoining = credential(7);
      await harness.trust.join({ tokenHash: await token(), at: at(4), publicKeySha256: 'key-1', credential: rejoining });
      expect(await harness.trust.findCredential(rejoining.secretHash)).toEqual({ id: rejoining.id, agentId: rejoining.agentId });
    });
  });
}
