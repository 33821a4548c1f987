/**
 * Ethernet, ARP, IPv4 and TCP as far as an MMDS endpoint needs them: decoding what a guest sends,
 * encoding what it answers (with correct IPv4 and TCP checksums: the guest's NIC offloads none).
 */
export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const IPPROTO_TCP = 6;

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;

export function parseMac(text: string): Buffer {
  const bytes = text.split(':').map((h) => parseInt(h, 16));
  if (bytes.length !== 6 || bytes.some((b) => !(b >= 0 && b <= 255))) throw new Error(`not a MAC address: ${text}`);
  return Buffer.from(bytes);
}

export function parseIpv4(text: string): Buffer {
  const bytes = text.split('.').map(Number);
  if (bytes.length !== 4 || bytes.some((b) => !Number.isInteger(b) || b < 0 || b > 255)) {
    throw new Error(`not an IPv4 address: ${text}`);
  }
  return Buffer.from(bytes);
}

/** The 16-bit ones' complement of the ones' complement sum (RFC 1071). */
export function internetChecksum(...parts: Buffer[]): number {
  let sum = 0;
  let odd: number | undefined;
  for (const part of parts) {
    for (const byte of part) {
      if (odd === undefined) odd = byte;
      else {
        sum += (odd << 8) | byte;
        odd = undefined;
      }
    }
  }
  if (odd !== undefined) sum += odd << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

export interface EthernetFrame {
  dst: Buffer;
  src: Buffer;
  etherType: number;
  payload: Buffer;
}

export function decodeEthernet(frame: Buffer): EthernetFrame | undefined {
  if (frame.length < 14) return undefined;
  return {
    dst: frame.subarray(0, 6),
    src: frame.subarray(6, 12),
    etherType: frame.readUInt16BE(12),
    payload: frame.subarray(14),
  };
}

export function encodeEthernet(dst: Buffer, src: Buffer, etherType: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(14);
  dst.copy(head, 0);
  src.copy(head, 6);
  head.writeUInt16BE(etherType, 12);
  return Buffer.concat([head, payload]);
}

export interface ArpPacket {
  op: number;
  senderMac: Buffer;
  senderIp: Buffer;
  targetMac: Buffer;
  targetIp: Buffer;
}

/** An Ethernet/IPv4 ARP packet, or undefined for any other kind. */
export function decodeArp(p: Buffer): ArpPacket | undefined {
  if (p.length < 28 || p.readUInt16BE(0) !== 1 || p.readUInt16BE(2) !== ETHERTYPE_IPV4 || p[4] !== 6 || p[5] !== 4) {
    return undefined;
  }
  return {
    op: p.readUInt16BE(6),
    senderMac: p.subarray(8, 14),
    senderIp: p.subarray(14, 18),
    targetMac: p.subarray(18, 24),
    targetIp: p.subarray(24, 28),
  };
}

export function encodeArp(a: ArpPacket): Buffer {
  const p = Buffer.alloc(28);
  p.writeUInt16BE(1, 0);
  p.writeUInt16BE(ETHERTYPE_IPV4, 2);
  p[4] = 6;
  p[5] = 4;
  p.writeUInt16BE(a.op, 6);
  a.senderMac.copy(p, 8);
  a.senderIp.copy(p, 14);
  a.targetMac.copy(p, 18);
  a.targetIp.copy(p, 24);
  return p;
}

export interface Ipv4Packet {
  src: Buffer;
  dst: Buffer;
  protocol: number;
  payload: Buffer;
}

/** An unfragmented IPv4 packet with a valid header, or undefined. */
export function decodeIpv4(p: Buffer): Ipv4Packet | undefined {
  if (p.length < 20 || p[0] === undefined || p[0] >> 4 !== 4) return undefined;
  const headerBytes = (p[0] & 0x0f) * 4;
  const total = p.readUInt16BE(2);
  if (headerBytes < 20 || total < headerBytes || total > p.length) return undefined;
  if ((p.readUInt16BE(6) & 0x3fff) !== 0) return undefined; // MF set or an offset: a fragment
  if (internetChecksum(p.subarray(0, headerBytes)) !== 0) return undefined;
  return { src: p.subarray(12, 16), dst: p.subarray(16, 20), protocol: p[9] ?? 0, payload: p.subarray(headerBytes, total) };
}

export function encodeIpv4(src: Buffer, dst: Buffer, protocol: number, id: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(20);
  h[0] = 0x45;
  h.writeUInt16BE(20 + payload.length, 2);
  h.writeUInt16BE(id & 0xffff, 4);
  h.writeUInt16BE(0x4000, 6); // DF
  h[8] = 64;
  h[9] = protocol;
  src.copy(h, 12);
  dst.copy(h, 16);
  h.writeUInt16BE(internetChecksum(h), 10);
  return Buffer.concat([h, payload]);
}

export interface TcpSegment {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  /** The MSS option of a SYN, when present. */
  mss: number | undefined;
  payload: Buffer;
}

function pseudoHeader(src: Buffer, dst: Buffer, length: number): Buffer {
  const h = Buffer.alloc(12);
  src.copy(h, 0);
  dst.copy(h, 4);
  h[9] = IPPROTO_TCP;
  h.writeUInt16BE(length, 10);
  return h;
}

/** A TCP segment with a valid checksum, or undefined. */
export function decodeTcp(ip: Ipv4Packet): TcpSegment | undefined {
  const s = ip.payload;
  if (s.length < 20) return undefined;
  const offset = ((s[12] ?? 0) >> 4) * 4;
  if (offset < 20 || offset > s.length) return undefined;
  if (internetChecksum(pseudoHeader(ip.src, ip.dst, s.length), s) !== 0) return undefined;
  let mss: number | undefined;
  for (let i = 20; i < offset;) {
    const kind = s[i] ?? 0;
    if (kind === 0) break;
    if (kind === 1) {
      i += 1;
      continue;
    }
    const len = s[i + 1] ?? 0;
    if (len < 2) break;
    if (kind === 2 && len === 4 && i + 4 <= offset) mss = s.readUInt16BE(i + 2);
    i += len;
  }
  return {
    srcPort: s.readUInt16BE(0),
    dstPort: s.readUInt16BE(2),
    seq: s.readUInt32BE(4),
    ack: s.readUInt32BE(8),
    flags: (s[13] ?? 0) & 0x3f,
    window: s.readUInt16BE(14),
    mss,
    payload: s.subarray(offset),
  };
}

export function encodeTcp(src: Buffer, dst: Buffer, seg: TcpSegment): Buffer {
  const options = seg.mss === undefined ? Buffer.alloc(0) : Buffer.from([2, 4, seg.mss >> 8, seg.mss & 0xff]);
  const h = Buffer.alloc(20 + options.length);
  h.writeUInt16BE(seg.srcPort, 0);
  h.writeUInt16BE(seg.dstPort, 2);
  h.writeUInt32BE(seg.seq >>> 0, 4);
  h.writeUInt32BE(seg.ack >>> 0, 8);
  h[12] = (h.length / 4) << 4;
  h[13] = seg.flags;
  h.writeUInt16BE(seg.window, 14);
  options.copy(h, 20);
  const checksum = internetChecksum(pseudoHeader(src, dst, h.length + seg.payload.length), h, seg.payload);
  h.writeUInt16BE(checksum, 16);
  return Buffer.concat([h, seg.payload]);
}
