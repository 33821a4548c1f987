/**
 * The guest's view of MMDS at the link layer, as Firecracker's own minimal stack (dumbo) gives it:
 * ARP replies for the MMDS address, and a small TCP server on its port 80 that answers HTTP
 * requests with `mmdsGuestResponse`. Every other frame is dropped. Frames in, frames out: the
 * transport that carries them (a QEMU `-netdev stream` socket) is the caller's.
 *
 * Simplifications against a full TCP: no retransmission of what it sends (the link is a local
 * stream socket that loses nothing), no reordering (an out-of-order segment gets a duplicate ACK
 * and the guest resends it), and the guest's window is not tracked (answers are far below 64 KiB).
 */
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
} from './frames.js';
import { type MmdsView, mmdsGuestResponse, serializeGuestResponse } from './guest-http.js';
import { GuestRequestParser } from './guest-request.js';
import { randomUint32 } from '../random.js';

/** Firecracker's MMDS MAC address (`mmds::ns::DEFAULT_MAC_ADDR`). */
export const MMDS_MAC = '06:01:23:45:67:01';
const HTTP_PORT = 80;
const OUR_MSS = 1460;
const DEFAULT_GUEST_MSS = 536;
const WINDOW = 65_535;
const MAX_CONNECTIONS = 30;
const IDLE_TIMEOUT_MS = 60_000;

interface Connection {
  guestMac: Buffer;
  guestIp: Buffer;
  guestPort: number;
  iss: number;
  rcvNxt: number;
  sndNxt: number;
  mss: number;
  parser: GuestRequestParser;
  finReceived: boolean;
  finSent: boolean;
  lastMs: number;
}

const add = (a: number, b: number): number => (a + b) >>> 0;

export class MmdsEndpoint {
  private readonly mac = parseMac(MMDS_MAC);
  private readonly ip: Buffer;
  private readonly connections = new Map<string, Connection>();
  private ipId = 0;

  constructor(
    private readonly mmds: MmdsView,
    private readonly send: (frame: Buffer) => void,
    private readonly nowMs: () => number = Date.now,
  ) {
    this.ip = parseIpv4(mmds.config.ipv4_address);
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  receive(frame: Buffer): void {
    const eth = decodeEthernet(frame);
    if (!eth) return;
    if (eth.etherType === ETHERTYPE_ARP) this.arp(eth.payload);
    else if (eth.etherType === ETHERTYPE_IPV4) this.ipv4(eth.src, eth.payload);
  }

  private arp(payload: Buffer): void {
    const a = decodeArp(payload);
    if (!a || a.op !== 1 || !a.targetIp.equals(this.ip)) return;
    const reply = encodeArp({ op: 2, senderMac: this.mac, senderIp: this.ip, targetMac: a.senderMac, targetIp: a.senderIp });
    this.send(encodeEthernet(a.senderMac, this.mac, ETHERTYPE_ARP, reply));
  }

  private ipv4(srcMac: Buffer, payload: Buffer): void {
    const ip = decodeIpv4(payload);
    if (!ip || ip.protocol !== IPPROTO_TCP || !ip.dst.equals(this.ip)) return;
    const seg = decodeTcp(ip);
    if (!seg || seg.dstPort !== HTTP_PORT) return;
    this.expireIdle();
    const key = `${ip.src.join('.')}:${String(seg.srcPort)}`;
    const conn = this.connections.get(key);
    if (seg.flags & TCP_RST) {
      this.connections.delete(key);
      return;
    }
    if (seg.flags & TCP_SYN) {
      if (seg.flags & TCP_ACK) return this.reset(srcMac, ip.src, seg);
      this.open(key, conn, srcMac, Buffer.from(ip.src), seg);
      return;
    }
    if (!conn) return this.reset(srcMac, ip.src, seg);
    this.segment(key, conn, seg);
  }

  private open(key: string, existing: Connection | undefined, mac: Buffer, ip: Buffer, seg: TcpSegment): void {
    let conn = existing;
    if (!conn || conn.rcvNxt !== add(seg.seq, 1)) {
      if (this.connections.size >= MAX_CONNECTIONS && !conn) return this.reset(mac, ip, seg);
      const iss = randomUint32();
      conn = {
        guestMac: Buffer.from(mac),
        guestIp: ip,
        guestPort: seg.srcPort,
        iss,
        rcvNxt: add(seg.seq, 1),
        sndNxt: add(iss, 1),
        mss: Math.min(seg.mss ?? DEFAULT_GUEST_MSS, OUR_MSS),
        parser: new GuestRequestParser(),
        finReceived: false,
        finSent: false,
        lastMs: this.nowMs(),
      };
      this.connections.set(key, conn);
    }
    // A repeated SYN gets the same SYN-ACK again.
    this.emit(conn, { seq: conn.iss, ack: conn.rcvNxt, flags: TCP_SYN | TCP_ACK, mss: OUR_MSS, payload: Buffer.alloc(0) });
  }

  private segment(key: string, conn: Connection, seg: TcpSegment): void {
    conn.lastMs = this.nowMs();
    let consumed = false;
    let answer: Buffer = Buffer.alloc(0);
    let close = false;
    if (seg.payload.length > 0 || seg.flags & TCP_FIN) {
      if (seg.seq === conn.rcvNxt && !conn.finReceived) {
        consumed = true;
        conn.rcvNxt = add(conn.rcvNxt, seg.payload.length);
        if (seg.payload.length > 0) ({ answer, close } = this.http(conn, seg.payload));
        if (seg.flags & TCP_FIN) {
          conn.rcvNxt = add(conn.rcvNxt, 1);
          conn.finReceived = true;
        }
      } else {
        // a retransmission or a segment out of order: say again what we expect
        this.emit(conn, { seq: conn.sndNxt, ack: conn.rcvNxt, flags: TCP_ACK, mss: undefined, payload: Buffer.alloc(0) });
        return;
      }
    }
    let sent = false;
    for (let off = 0; off < answer.length; off += conn.mss) {
      const chunk = answer.subarray(off, off + conn.mss);
      const last = off + conn.mss >= answer.length;
      this.emit(conn, {
        seq: conn.sndNxt,
        ack: conn.rcvNxt,
        flags: TCP_ACK | (last ? TCP_PSH : 0),
        mss: undefined,
        payload: chunk,
      });
      conn.sndNxt = add(conn.sndNxt, chunk.length);
      sent = true;
    }
    if ((close || conn.finReceived) && !conn.finSent) {
      this.emit(conn, { seq: conn.sndNxt, ack: conn.rcvNxt, flags: TCP_FIN | TCP_ACK, mss: undefined, payload: Buffer.alloc(0) });
      conn.sndNxt = add(conn.sndNxt, 1);
      conn.finSent = true;
      sent = true;
    }
    if (consumed && !sent) {
      this.emit(conn, { seq: conn.sndNxt, ack: conn.rcvNxt, flags: TCP_ACK, mss: undefined, payload: Buffer.alloc(0) });
    }
    // Both sides closed and our FIN acknowledged: the connection is gone.
    if (conn.finSent && conn.finReceived && seg.flags & TCP_ACK && seg.ack === conn.sndNxt) this.connections.delete(key);
  }

  private http(conn: Connection, data: Buffer): { answer: Buffer; close: boolean } {
    const out: Buffer[] = [];
    let close = false;
    for (const event of conn.parser.push(data)) {
      if (close) break;
      if (event.kind === 'error') {
        out.push(serializeGuestResponse({ status: 400, contentType: 'text/plain', body: event.reason }, 'HTTP/1.1', true));
        close = true;
        break;
      }
      const req = event.request;
      const connection = (req.headers.get('connection') ?? '').toLowerCase();
      close = req.version === 'HTTP/1.0' ? connection !== 'keep-alive' : connection === 'close';
      out.push(serializeGuestResponse(mmdsGuestResponse(req, this.mmds), req.version, close));
    }
    return { answer: Buffer.concat(out), close };
  }

  private reset(mac: Buffer, ip: Buffer, seg: TcpSegment): void {
    const rst: TcpSegment =
      seg.flags & TCP_ACK
        ? {
            srcPort: seg.dstPort,
            dstPort: seg.srcPort,
            seq: seg.ack,
            ack: 0,
            flags: TCP_RST,
            window: 0,
            mss: undefined,
            payload: Buffer.alloc(0),
          }
        : {
            srcPort: seg.dstPort,
            dstPort: seg.srcPort,
            seq: 0,
            ack: add(seg.seq, seg.payload.length + (seg.flags & TCP_SYN ? 1 : 0) + (seg.flags & TCP_FIN ? 1 : 0)),
            flags: TCP_RST | TCP_ACK,
            window: 0,
            mss: undefined,
            payload: Buffer.alloc(0),
          };
    this.sendTcp(mac, ip, rst);
  }

  private emit(conn: Connection, s: Pick<TcpSegment, 'seq' | 'ack' | 'flags' | 'mss' | 'payload'>): void {
    this.sendTcp(conn.guestMac, conn.guestIp, { ...s, srcPort: HTTP_PORT, dstPort: conn.guestPort, window: WINDOW });
  }

  private sendTcp(mac: Buffer, ip: Buffer, seg: TcpSegment): void {
    const tcp = encodeTcp(this.ip, ip, seg);
    this.ipId = (this.ipId + 1) & 0xffff;
    this.send(encodeEthernet(mac, this.mac, ETHERTYPE_IPV4, encodeIpv4(this.ip, ip, IPPROTO_TCP, this.ipId, tcp)));
  }

  private expireIdle(): void {
    const limit = this.nowMs() - IDLE_TIMEOUT_MS;
    for (const [key, conn] of this.connections) if (conn.lastMs < limit) this.connections.delete(key);
  }
}
