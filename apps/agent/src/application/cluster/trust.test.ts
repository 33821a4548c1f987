import { describe, expect, it } from 'vitest';
import { FakeManagerApi } from '../../adapters/fake/fake-manager-api.js';
import { FakeTimers } from '../../adapters/fake/fake-timers.js';
import { InMemoryTrustStore } from '../../adapters/fake/in-memory-trust-store.js';
import { ManualClock } from '../../adapters/fake/manual-clock.js';
import { RecordingLog } from '../../adapters/fake/recording-log.js';
import { CertificateRenewal } from './certificate-renewal.js';
import { ensureJoined, JoinRefusedError } from './join-cluster.js';
import type { AgentTrust } from '../ports/trust-store.js';

const agentId = 'agent_01J00000000000000000000001';
const token = `hjt_${'t'.repeat(43)}`;
let keyCount = 0;
const generateKeyPair = async () => {
  keyCount += 1;
  return { publicKeyPem: `public-${keyCount}`, privateKeyPem: `private-${keyCount}` };
};

function joinOptions(overrides: Partial<Parameters<typeof ensureJoined>[0]> = {}): Parameters<typeof ensureJoined>[0] {
  return {
    store: new InMemoryTrustStore(),
    manager: new FakeManagerApi(),
    agentId,
    joinToken: token,
    generateKeyPair,
    clock: new ManualClock(),
    log: new RecordingLog(),
    random: () => 0.5,
    backoff: { initialMs: 100, maxMs: 1000 },
    ...overrides,
  };
}

describe('ensureJoined', () => {
  it('joins with the token for a key made here, and keeps what it got before answering', async () => {
    const manager = new FakeManagerApi();
    manager.joinTokens.add(token);
    const store = new InMemoryTrustStore();
    const trust = await ensureJoined(joinOptions({ manager, store }));
    expect(manager.joins).toEqual([{ joinToken: token, agentId, publicKeyPem: expect.stringMatching(/^public-/) as string }]);
    expect(trust).toMatchObject({ credential: 'hhc_fake', certificatePem: 'joined', clusterId: manager.clusterId });
    expect(trust.privateKeyPem).toBe(manager.joins[0]!.publicKeyPem.replace('public', 'private'));
    expect(await store.load()).toEqual(trust);
  });

  it('never asks for a token again once it joined', async () => {
    const kept: AgentTrust = {
      clusterId: 'c',
      caCertificatePem: 'ca',
      certificatePem: 'cert',
      privateKeyPem: 'key',
      credential: 'hhc_x',
    };
    const manager = new FakeManagerApi();
    expect(await ensureJoined(joinOptions({ manager, store: new InMemoryTrustStore(kept), joinToken: null }))).toEqual(kept);
    expect(manager.joins).toEqual([]);
  });

  it('retries while the Manager cannot be reached', async () => {
    const manager = new FakeManagerApi();
    manager.joinTokens.add(token);
    manager.isReachable = false;
    const clock = new ManualClock();
    const sleep = clock.sleep.bind(clock);
    let sleeps = 0;
    clock.sleep = async (ms: number) => {
      sleeps += 1;
      if (sleeps === 3) manager.isReachable = true;
      await sleep(ms);
    };
    await expect(ensureJoined(joinOptions({ manager, clock }))).resolves.toMatchObject({ credential: 'hhc_fake' });
    expect(sleeps).toBe(3);
  });

  it('gives up at once when the Manager refuses the token, saying why', async () => {
    const manager = new FakeManagerApi();
    manager.trustRefusal = 'JOIN_TOKEN_EXPIRED';
    const store = new InMemoryTrustStore();
    await expect(ensureJoined(joinOptions({ manager, store }))).rejects.toMatchObject({ code: 'JOIN_TOKEN_EXPIRED' });
    expect(await store.load()).toBeUndefined();
  });

  it('refuses to start without a token before it joined', async () => {
    await expect(ensureJoined(joinOptions({ joinToken: null }))).rejects.toBeInstanceOf(JoinRefusedError);
  });
});

describe('CertificateRenewal', () => {
  const hour = 3_600_000;
  const first: AgentTrust = {
    clusterId: 'c',
    caCertificatePem: 'ca',
    certificatePem: 'first',
    privateKeyPem: 'key-0',
    credential: 'hhc_x',
  };

  function renewal(manager: FakeManagerApi, store: InMemoryTrustStore, timers: FakeTimers, renewed: AgentTrust[]) {
    const clock = new ManualClock(new Date(0));
    return new CertificateRenewal({
      store,
      manager,
      generateKeyPair,
      // Every certificate is valid for three hours from when the fake timers stood at its issue.
      validityOf: () => ({ notBefore: new Date(timers.nowMs), notAfter: new Date(timers.nowMs + 3 * hour) }),
      timers,
      clock: { now: () => new Date(timers.nowMs + clock.now().getTime()) },
      log: new RecordingLog(),
      random: () => 0.5,
      backoff: { initialMs: 1000, maxMs: 60_000 },
      onRenewed: (trust) => renewed.push(trust),
    });
  }

  it('renews after two thirds of the lifetime for a new key, keeps it, then hands it to the server', async () => {
    const manager = new FakeManagerApi();
    const store = new InMemoryTrustStore(first);
    const timers = new FakeTimers();
    const renewed: AgentTrust[] = [];
    renewal(manager, store, timers, renewed).start(first);
    expect(timers.pendingDelaysMs).toEqual([2 * hour]);
    timers.runNext();
    await new Promise((resolve) => setImmediate(resolve));
    expect(manager.renewals).toHaveLength(1);
    expect(renewed).toEqual([expect.objectContaining({ certificatePem: 'renewed-1', credential: 'hhc_x' })]);
    expect(renewed[0]!.privateKeyPem).toBe(manager.renewals[0]!.replace('public', 'private'));
    expect(await store.load()).toEqual(renewed[0]);
    expect(timers.pendingDelaysMs).toEqual([2 * hour]);
  });

  it('retries with backoff while the Manager refuses or cannot be reached, keeping the certificate it has', async () => {
    const manager = new FakeManagerApi();
    manager.isReachable = false;
    const store = new InMemoryTrustStore(first);
    const timers = new FakeTimers();
    const renewed: AgentTrust[] = [];
    renewal(manager, store, timers, renewed).start(first);
    timers.runNext();
    await new Promise((resolve) => setImmediate(resolve));
    expect(timers.pendingDelaysMs).toEqual([750]); // half to all of the first backoff step (1 s), jitter 0.5
    expect(await store.load()).toEqual(first);
    manager.isReachable = true;
    timers.runNext();
    await new Promise((resolve) => setImmediate(resolve));
    expect(renewed).toHaveLength(1);
  });
});
