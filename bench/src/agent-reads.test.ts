import { describe, expect, it } from 'vitest';
import { countAgentReads } from './agent-reads.js';

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
