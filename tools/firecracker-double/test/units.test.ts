import { describe, expect, it } from 'vitest';
import { crc64 } from '../src/crc64.js';
import { deserialize } from '../src/json/deserialize.js';
import { parsePositioned } from '../src/json/positioned-json.js';
import { RequestParser } from '../src/http/parser.js';
import { decodeSnapshot, encodeSnapshot } from '../src/snapshot-file.js';
import { parseCli } from '../src/cli.js';
import * as S from '../src/api/schemas.js';

describe('units', () => {
  it('crc64 is CRC-64/XZ', () => {
    expect(crc64(Buffer.from('123456789'))).toBe(0x995dc9bbdf1939fan);
  });

  it('snapshot files round trip and reject corruption', () => {
    const file = encodeSnapshot({ a: 1 });
    expect(file.readBigUInt64LE(0)).toBe(0x0710_1984_8664_0000n);
    expect(decodeSnapshot(file)).toEqual({ a: 1 });
    expect(() => decodeSnapshot(Buffer.alloc(3))).toThrow('File too short to contain CRC');
    file[9] = 1;
    expect(() => decodeSnapshot(file)).toThrow('CRC64 validation failed');
  });

  it('deserializer positions follow serde_json', () => {
    const d = (text: string) => () => deserialize(parsePositioned(text), S.machineConfig);
    expect(d('{"vcpu_count": 2}')).toThrow('missing field `mem_size_mib` at line 1 column 17');
    expect(d('{\n "foo": 1}')).toThrow(
      'unknown field `foo`, expected one of `vcpu_count`, `mem_size_mib`, `smt`, `cpu_template`, `track_dirty_pages`, `huge_pages` at line 2 column 6',
    );
    expect(d('{"vcpu_count": true, "mem_size_mib": 1}')).toThrow('invalid type: boolean `true`, expected u8 at line 1 column 19');
    expect(d('{"vcpu_count": 1, "vcpu_count": 1, "mem_size_mib": 1}')).toThrow('duplicate field `vcpu_count`');
    expect(() => parsePositioned('{"a":1} x')).toThrow('trailing characters at line 1 column 9');
  });

  it('the HTTP parser splits pipelined requests and bodies across chunks', () => {
    const p = new RequestParser(100);
    const evs = [
      ...p.push(Buffer.from('PUT /a HTTP/1.1\r\nContent-Le')),
      ...p.push(Buffer.from('ngth: 4\r\n\r\nab')),
      ...p.push(Buffer.from('cdGET /b HTTP/1.0\r\n\r\n')),
    ];
    expect(
      evs.map((e) => (e.kind === 'request' ? `${e.request.method} ${e.request.path} ${e.request.body ?? ''}` : e.kind)),
    ).toEqual(['PUT /a abcd', 'GET /b ']);
  });

  it('CLI parsing', () => {
    expect(parseCli(['--api-sock', '/s', '--no-api', '--config-file', 'c', '--', '--whatever']).values).toEqual({
      'api-sock': '/s',
      'config-file': 'c',
    });
  });
});
