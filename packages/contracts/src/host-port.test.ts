import { describe, expect, it } from 'vitest';
import { parseHostPort } from './host-port.js';

describe('parseHostPort', () => {
  it.each([
    ['127.0.0.1:8080', { host: '127.0.0.1', port: 8080 }],
    ['localhost:1', { host: 'localhost', port: 1 }],
    ['agent-1.example.org:65535', { host: 'agent-1.example.org', port: 65535 }],
    ['[::1]:9000', { host: '::1', port: 9000 }],
    ['[::ffff:10.0.0.1]:19090', { host: '::ffff:10.0.0.1', port: 19090 }],
  ])('reads %s', (value, expected) => {
    expect(parseHostPort(value)).toEqual(expected);
  });

  it.each(['127.0.0.1:0', '127.0.0.1:00000', '127.0.0.1:65536', '[::1]:99999'])('refuses the port of %s', (value) => {
    expect(parseHostPort(value)).toMatch(/^port must be 1\.\.65535/);
  });

  it.each([
    '',
    'localhost',
    ':8080',
    '127.0.0.1:',
    '127.0.0.1:80a',
    '::1:8080',
    '[::1]',
    'a b:80',
    '127.0.0.1:123456',
    'http://x:80',
  ])('refuses %j as not host:port', (value) => {
    expect(parseHostPort(value)).toMatch(/^must be host:port/);
  });
});
