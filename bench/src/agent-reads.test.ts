import { describe, expect, it } from 'vitest';
import { agentApplyTimes, countAgentReads } from './agent-reads.js';

const line = (method: string, url: string, statusCode = 200): string =>
  JSON.stringify({ level: 30, method, url, statusCode, durationMs: 1.2, msg: 'request completed' });

describe('countAgentReads', () => {
  it("counts the Agent's inventory reads (304s included) and its reads of one VM, and nothing else", () => {
    const log = [
      line('GET', '/agent/v1/inventory?resources=none'),
      line('GET', '/agent/v1/inventory?resources=none', 304),
      line('GET', '/agent/v1/vms/vm_01JABCDEFGHJKMNPQRSTVWXYZ0'),
      line('GET', '/agent/v1/vms/vm_01JABCDEFGHJKMNPQRSTVWXYZ0', 404),
      line('PUT', '/agent/v1/vms/vm_01JABCDEFGHJKMNPQRSTVWXYZ0'),
      line('GET', '/agent/v1/vms/vm_01JABCDEFGHJKMNPQRSTVWXYZ0/console?bytes=100'),
      line('GET', '/agent/v1/health'),
      JSON.stringify({ level: 30, msg: 'heartbeat sent' }),
      '{"level":30,"msg":"request completed","method":"GET","url":"/agent/v1/inven',
    ].join('\n');

    expect(countAgentReads(log)).toEqual({ inventory: 2, vm: 2 });
  });
});

describe('agentApplyTimes', () => {
  it("answers each VM's last answered apply: received at its line's time (ISO or epoch ms) less its duration, answered at its time", () => {
    const at = (method: string, url: string, time: number, durationMs: number, statusCode = 200): string =>
      JSON.stringify({ level: 30, time, method, url, statusCode, durationMs, msg: 'request completed' });
    const log = [
      at('PUT', '/agent/v1/vms/vm_a', 1_000, 400),
      at('PUT', '/agent/v1/vms/vm_a', 3_000, 500.5),
      JSON.stringify({
        time: '1970-01-01T00:00:04.000Z',
        method: 'PUT',
        url: '/agent/v1/vms/vm_f',
        statusCode: 200,
        durationMs: 1_000,
        msg: 'request completed',
      }),
      at('PUT', '/agent/v1/vms/vm_b', 2_000, 100, 409),
      at('PUT', '/agent/v1/vms/vm_c/egress', 2_000, 10),
      at('GET', '/agent/v1/vms/vm_d', 2_000, 10),
      '{"level":30,"time":5000,"msg":"request completed","method":"PUT","url":"/agent/v1/vms/vm_e"',
    ].join('\n');

    expect([...agentApplyTimes(log)]).toEqual([
      ['vm_a', { receivedAtMs: 2_499.5, answeredAtMs: 3_000 }],
      ['vm_f', { receivedAtMs: 3_000, answeredAtMs: 4_000 }],
    ]);
  });
});
