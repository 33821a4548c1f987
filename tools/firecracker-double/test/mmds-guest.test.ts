/** MMDS as a guest sees it: its HTTP answers (behaviour.md#endpoint-mmds) and the link-level endpoint that carries them. */
import { describe, expect, it } from 'vitest';
import {
  decodeArp,
  decodeEthernet,
  decodeIpv4,
  decodeTcp,
  encodeArp,
  encodeEthernet,
  encodeIpv4,
  encodeTcp,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  IPPROTO_TCP,
  parseIpv4,
  parseMac,
  TCP_ACK,
  TCP_FIN,
  TCP_PSH,
  TCP_RST,
  TCP_SYN,
  type TcpSegment,
} from '../src/mmds/frames.js';
import { MSG, mmdsGuestResponse, type MmdsView } from '../src/mmds/guest-http.js';
import { GuestRequestParser } from '../src/mmds/guest-request.js';
import { MMDS_MAC, MmdsEndpoint } from '../src/mmds/mmds-endpoint.js';
import { TokenAuthority } from '../src/mmds/token-authority.js';
import { frameForStream, StreamFramer } from '../src/backends/qemu-mmds.js';
import type { MmdsConfig } from '../src/vmm/types.js';

const DATA = {
  latest: {
    'meta-data': { 'instance-id': 'vm-1', zeta: 'z', network: { interfaces: {} }, 'prefix-length': 24, list: ['a'] },
  },
};

function view(config: Partial<MmdsConfig> = {}, now = { ms: 0 }): MmdsView {
  return {
    config: { version: 'V2', network_interfaces: ['eth0'], ipv4_address: '169.254.169.254', imds_compat: false, ...config },
    data: () => DATA,
    tokens: new TokenAuthority(() => now.ms),
  };
}

function req(method: string, uri: string, headers: Record<string, string> = {}) {
  return {
    method,
    uri,
    version: 'HTTP/1.1',
    headers: new Map(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v])),
  };
}

function token(mmds: MmdsView, ttl = '60'): string {
  const r = mmdsGuestResponse(req('PUT', '/latest/api/token', { 'X-metadata-token-ttl-seconds': ttl }), mmds);
  expect(r.status).toBe(200);
  return r.body;
}

describe('MMDS answers to a guest', () => {
  it('version 2 answers a GET only with a session token from PUT /latest/api/token', () => {
    const mmds = view();
    expect(mmdsGuestResponse(req('GET', '/latest/meta-data/instance-id'), mmds)).toEqual({
      status: 401,
      contentType: 'text/plain',
      body: MSG.noToken,
    });
    const t = token(mmds);
    const get = (headers: Record<string, string>) =>
      mmdsGuestResponse(req('GET', '/latest/meta-data/instance-id', headers), mmds);
    expect(get({ 'X-metadata-token': t })).toEqual({ status: 200, contentType: 'text/plain', body: 'vm-1' });
    expect(get({ 'X-aws-ec2-metadata-token': t }).body).toBe('vm-1');
    expect(get({ 'X-metadata-token': 'forged' })).toMatchObject({ status: 401, body: MSG.invalidToken });
  });

  it('a token stops working when its time to live is over', () => {
    const now = { ms: 0 };
    const mmds = view({}, now);
    const t = token(mmds, '2');
    now.ms = 1999;
    expect(mmdsGuestResponse(req('GET', '/latest', { 'X-metadata-token': t }), mmds).status).toBe(200);
    now.ms = 2000;
    expect(mmdsGuestResponse(req('GET', '/latest', { 'X-metadata-token': t }), mmds).status).toBe(401);
  });

  it('issues tokens of 48 random bytes, each one new', () => {
    const mmds = view();
    const tokens = new Set(Array.from({ length: 200 }, () => token(mmds)));
    expect(tokens.size).toBe(200);
    for (const t of tokens) expect(Buffer.from(t, 'base64')).toHaveLength(48);
  });

  it('answers the IMDS text form: keys sorted one per line, "/" after objects, strings as they are, 501 for other values', () => {
    const mmds = view();
    const h = { 'X-metadata-token': token(mmds) };
    expect(mmdsGuestResponse(req('GET', '/latest/meta-data/', h), mmds).body).toBe(
      'instance-id\nlist\nnetwork/\nprefix-length\nzeta',
    );
    expect(mmdsGuestResponse(req('GET', '/latest/meta-data/prefix-length', h), mmds)).toMatchObject({
      status: 501,
      body: MSG.unsupportedValue,
    });
    expect(mmdsGuestResponse(req('GET', '/latest/meta-data/list', h), mmds).status).toBe(501);
    expect(mmdsGuestResponse(req('GET', '/latest/nothing', h), mmds)).toMatchObject({
      status: 404,
      body: 'Resource not found: /latest/nothing.',
    });
  });

  it('answers JSON for Accept: application/json, unless imds_compat forces the text form', () => {
    const mmds = view();
    const h = { 'X-metadata-token': token(mmds), Accept: 'application/json' };
    expect(mmdsGuestResponse(req('GET', '/latest/meta-data/list', h), mmds)).toEqual({
      status: 200,
      contentType: 'application/json',
      body: '["a"]',
    });
    const compat = view({ imds_compat: true });
    const hc = { 'X-metadata-token': token(compat), Accept: 'application/json' };
    expect(mmdsGuestResponse(req('GET', '/latest/meta-data/zeta', hc), compat)).toMatchObject({
      contentType: 'text/plain',
      body: 'z',
    });
  });

  it('refuses bad token requests with 400 and other paths with 404', () => {
    const mmds = view();
    const put = (headers: Record<string, string>, uri = '/latest/api/token') => mmdsGuestResponse(req('PUT', uri, headers), mmds);
    expect(put({})).toMatchObject({ status: 400, body: MSG.noTtl });
    expect(put({ 'X-metadata-token-ttl-seconds': '0' })).toMatchObject({ status: 400, body: MSG.badTtl('0') });
    expect(put({ 'X-metadata-token-ttl-seconds': '21601' }).status).toBe(400);
    expect(put({ 'X-metadata-token-ttl-seconds': 'ten' }).status).toBe(400);
    expect(put({ 'X-aws-ec2-metadata-token-ttl-seconds': '21600' }).status).toBe(200);
    expect(put({ 'X-metadata-token-ttl-seconds': '5', 'X-Forwarded-For': '10.0.0.1' })).toMatchObject({
      status: 400,
      body: MSG.forwardedFor,
    });
    expect(put({ 'X-metadata-token-ttl-seconds': '5' }, '/latest/other')).toMatchObject({ status: 404 });
    expect(mmdsGuestResponse(req('GET', 'latest'), mmds)).toMatchObject({ status: 400, body: MSG.invalidUri });
  });

  it('allows GET and PUT in version 2, GET only in version 1, where a token is checked only when sent', () => {
    expect(mmdsGuestResponse(req('DELETE', '/latest'), view())).toMatchObject({ status: 405, allow: 'GET, PUT' });
    const v1 = view({ version: 'V1' });
    expect(mmdsGuestResponse(req('PUT', '/latest/api/token'), v1)).toMatchObject({ status: 405, allow: 'GET' });
    expect(mmdsGuestResponse(req('GET', '/latest/meta-data/zeta'), v1)).toMatchObject({ status: 200, body: 'z' });
    expect(mmdsGuestResponse(req('GET', '/latest', { 'X-metadata-token': 'forged' }), v1).status).toBe(401);
  });

  it('parses pipelined requests with their headers and bodies, and stops at a malformed one', () => {
    const p = new GuestRequestParser();
    const first = p.push(Buffer.from('PUT /a HTTP/1.1\r\nContent-Length: 3\r\nX-A: b\r\n\r\nabcGET /b HTTP/1.0\r\n'));
    expect(first).toHaveLength(1);
    expect(first[0]).toMatchObject({ kind: 'request', request: { method: 'PUT', uri: '/a' } });
    expect(first[0]?.kind === 'request' && first[0].request.headers.get('x-a')).toBe('b');
    expect(p.push(Buffer.from('\r\n'))).toMatchObject([{ kind: 'request', request: { uri: '/b', version: 'HTTP/1.0' } }]);
    expect(p.push(Buffer.from('nonsense\r\n\r\n'))).toMatchObject([{ kind: 'error' }]);
  });
});

const GUEST_MAC = parseMac('06:01:23:45:67:02');
const GUEST_IP = parseIpv4('169.254.0.1');
const MMDS_IP = parseIpv4('169.254.169.254');

function tcpFrame(seg: Partial<TcpSegment> & { flags: number; seq: number }, dstIp = MMDS_IP): Buffer {
  const full: TcpSegment = {
    srcPort: 40000,
    dstPort: 80,
    ack: 0,
    window: 64240,
    mss: undefined,
    payload: Buffer.alloc(0),
    ...seg,
  };
  return encodeEthernet(
    parseMac(MMDS_MAC),
    GUEST_MAC,
    ETHERTYPE_IPV4,
    encodeIpv4(GUEST_IP, dstIp, IPPROTO_TCP, 1, encodeTcp(GUEST_IP, dstIp, full)),
  );
}

function tcpOf(frame: Buffer): TcpSegment {
  const eth = decodeEthernet(frame);
  const ip = eth && decodeIpv4(eth.payload);
  const seg = ip && decodeTcp(ip);
  if (!eth || !ip || !seg) throw new Error('not a valid TCP frame');
  expect(eth.dst.equals(GUEST_MAC)).toBe(true);
  expect(ip.src.equals(MMDS_IP)).toBe(true);
  return seg;
}

describe('the MMDS endpoint on the guest link', () => {
  function endpoint(): { ep: MmdsEndpoint; out: Buffer[]; mmds: MmdsView } {
    const out: Buffer[] = [];
    const mmds = view();
    return { ep: new MmdsEndpoint(mmds, (f) => out.push(f)), out, mmds };
  }

  it('answers ARP for the MMDS address only', () => {
    const { ep, out } = endpoint();
    const ask = (target: Buffer) =>
      encodeEthernet(
        Buffer.alloc(6, 0xff),
        GUEST_MAC,
        ETHERTYPE_ARP,
        encodeArp({ op: 1, senderMac: GUEST_MAC, senderIp: GUEST_IP, targetMac: Buffer.alloc(6), targetIp: target }),
      );
    ep.receive(ask(parseIpv4('169.254.0.2')));
    expect(out).toHaveLength(0);
    ep.receive(ask(MMDS_IP));
    expect(out).toHaveLength(1);
    const arp = decodeArp(decodeEthernet(out[0] as Buffer)?.payload ?? Buffer.alloc(0));
    expect(arp?.op).toBe(2);
    expect(arp?.senderMac.equals(parseMac(MMDS_MAC))).toBe(true);
    expect(arp?.senderIp.equals(MMDS_IP)).toBe(true);
    expect(arp?.targetIp.equals(GUEST_IP)).toBe(true);
  });

  it('serves HTTP over TCP: handshake, request, answer, and a clean close after the guest half-closes', () => {
    const { ep, out, mmds } = endpoint();
    const t = token(mmds);
    ep.receive(tcpFrame({ flags: TCP_SYN, seq: 1000, mss: 1460 }));
    const synAck = tcpOf(out.shift() as Buffer);
    expect(synAck.flags).toBe(TCP_SYN | TCP_ACK);
    expect(synAck.ack).toBe(1001);
    const request = Buffer.from(`GET /latest/meta-data/instance-id HTTP/1.1\r\nX-metadata-token: ${t}\r\n\r\n`);
    ep.receive(tcpFrame({ flags: TCP_ACK | TCP_PSH | TCP_FIN, seq: 1001, ack: synAck.seq + 1, payload: request }));
    const replies = out.splice(0).map(tcpOf);
    const data = Buffer.concat(replies.map((s) => s.payload)).toString();
    expect(data).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(data.endsWith('\r\n\r\nvm-1')).toBe(true);
    const fin = replies.at(-1) as TcpSegment;
    expect(fin.flags & TCP_FIN).toBe(TCP_FIN);
    expect(fin.ack).toBe(1001 + request.length + 1);
    expect(ep.connectionCount).toBe(1);
    ep.receive(tcpFrame({ flags: TCP_ACK, seq: fin.ack, ack: fin.seq + 1 }));
    expect(ep.connectionCount).toBe(0);
  });

  it('resets a segment of a connection it does not know, and ignores traffic to other addresses or ports', () => {
    const { ep, out } = endpoint();
    ep.receive(tcpFrame({ flags: TCP_ACK, seq: 5, ack: 77 }));
    expect(tcpOf(out.shift() as Buffer)).toMatchObject({ flags: TCP_RST, seq: 77 });
    ep.receive(tcpFrame({ flags: TCP_SYN, seq: 1 }, parseIpv4('169.254.1.1')));
    ep.receive(tcpFrame({ flags: TCP_SYN, seq: 1, dstPort: 81 }));
    expect(out).toHaveLength(0);
  });

  it('carries frames in QEMU stream framing, whatever the chunking', () => {
    const f = new StreamFramer();
    const wire = Buffer.concat([frameForStream(Buffer.from('one')), frameForStream(Buffer.from('second'))]);
    expect(f.push(wire.subarray(0, 5))).toEqual([]);
    expect(f.push(wire.subarray(5))?.map(String)).toEqual(['one', 'second']);
    expect(f.push(Buffer.from([0xff, 0xff, 0xff, 0xff]))).toBeUndefined();
  });
});
