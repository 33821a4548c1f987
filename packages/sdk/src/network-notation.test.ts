import { describe, expect, it } from 'vitest';
import {
  NotationError,
  egressText,
  parseEgressRule,
  parsePublishedPort,
  parseRateLimits,
  rateLimitsText,
} from './network-notation.js';

describe('the network notation', () => {
  it('reads rate limits and writes them back as the same text', () => {
    const text = 'net-tx.bandwidth=1250000/100 drive.ops=500/1000+2000';
    const limits = parseRateLimits(text.split(' '));
    expect(limits).toEqual({
      networkTx: { bandwidth: { size: 1_250_000, refillTimeMs: 100 } },
      drive: { ops: { size: 500, refillTimeMs: 1000, oneTimeBurst: 2000 } },
    });
    expect(rateLimitsText(limits)).toBe(text);
    expect(rateLimitsText({})).toBe('none');
  });

  it('reads egress rules and writes a policy back as its mode and rules', () => {
    const rules = ['203.0.113.0/24:tcp:80,443', '0.0.0.0/0:udp', '10.0.0.0/8'].map(parseEgressRule);
    expect(egressText({ mode: 'allow_list', rules })).toBe('allow_list 203.0.113.0/24:tcp:80,443 0.0.0.0/0:udp 10.0.0.0/8');
    expect(egressText({ mode: 'deny_all' })).toBe('deny_all');
  });

  it('refuses text outside the notation with a NotationError that names the text and the form', () => {
    const attempts = [
      () => parseEgressRule('10.0.0.0/8:icmp'),
      () => parsePublishedPort('80'),
      () => parseRateLimits(['disk.ops=1/1']),
      () => parseRateLimits(['drive.ops=1']),
    ];
    for (const attempt of attempts) {
      expect(attempt).toThrow(NotationError);
    }
    expect(() => parseRateLimits(['disk.ops=1/1'])).toThrow('disk.ops=1/1: the device is net-rx, net-tx or drive');
    expect(() => parsePublishedPort('80')).toThrow(/^80: HOST:GUEST/);
  });
});
