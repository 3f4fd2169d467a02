// An RTP relay (media anchoring): two port pairs, side A toward one party and side B
// toward the other. What arrives on a side from its party goes out of the other side's
// socket of the same kind (RTP to RTP, RTCP to RTCP) to that side's party, unchanged:
// no decoding, no pacing, nothing allocated per packet.
// Each side latches (RFC 4961, symmetric RTP): its party's first packet from an allowed
// address fixes where that side sends, which is how a phone behind NAT is reached; any
// other source is counted and dropped. Until its party has sent, a side sends to the
// address its SDP gave. Counters per direction tell one-way audio apart from silence.
import type { RemoteInfo, Socket } from 'node:dgram';
import type { RelaySideName, RelaySideStats, RelayStats, RemoteMedia } from './engine.js';
import type { MediaPorts } from './ports.js';
import { isRtcp } from './rtp.js';
import { normaliseAddress as normalise } from './addresses.js';
import { digitOf, parseTelephoneEvent } from './dtmf.js';


class Side {
  remote: RemoteMedia | null = null;
  allowed = new Set<string>();
  latchedRtp: { address: string; port: number } | null = null;
  latchedRtcp: { address: string; port: number } | null = null;
  readonly stats: RelaySideStats = { received: 0, forwarded: 0, ignored: 0, lastReceivedAt: 0 };
  /** Key presses of this payload type are taken out and reported (lastEnd: the RTP timestamp of the last one reported). */
  digits: { payloadType: number; lastEnd: number } | null = null;

  constructor(readonly ports: MediaPorts) {}

  /** Where this side's RTP (kind 'rtp') or RTCP goes now, or null when it has nowhere to go yet. */
  target(kind: 'rtp' | 'rtcp'): { address: string; port: number } | null {
    if (kind === 'rtp') return this.latchedRtp ?? (this.remote && this.remote.address !== '0.0.0.0' ? { address: this.remote.address, port: this.remote.port } : null);
    if (this.latchedRtcp) return this.latchedRtcp;
    if (this.latchedRtp) return { address: this.latchedRtp.address, port: this.remote?.rtcpPort === null ? this.latchedRtp.port : this.latchedRtp.port + 1 };
    if (!this.remote || this.remote.address === '0.0.0.0') return null;
    return { address: this.remote.address, port: this.remote.rtcpPort ?? this.remote.port };
  }
}

export class RtpRelay {
  private readonly sides: Record<RelaySideName, Side>;
  private closed = false;
  onDigit: (side: RelaySideName, digit: string, ms: number) => void = () => {};

  constructor(a: MediaPorts, b: MediaPorts) {
    this.sides = { a: new Side(a), b: new Side(b) };
    this.listen('a', 'b');
    this.listen('b', 'a');
  }

  get ports(): { a: number; b: number } {
    return { a: this.sides.a.ports.port, b: this.sides.b.ports.port };
  }

  /** Where a side's party said (in SDP) to send, and who may send on that side. A new address unlatches the side. */
  update(side: RelaySideName, remote: RemoteMedia, allowedSources: string[]): void {
    const s = this.sides[side];
    const moved = !s.remote || s.remote.address !== remote.address || s.remote.port !== remote.port;
    s.remote = remote;
    s.allowed = new Set(allowedSources.map(normalise));
    if (moved) {
      s.latchedRtp = null;
      s.latchedRtcp = null;
    }
  }

  takeDigits(side: RelaySideName, payloadType: number): void {
    const s = this.sides[side];
    if (s.digits?.payloadType !== payloadType) s.digits = { payloadType, lastEnd: -1 };
  }

  get stats(): RelayStats {
    return { a: { ...this.sides.a.stats }, b: { ...this.sides.b.stats } };
  }

  close(): RelayStats {
    if (!this.closed) {
      this.closed = true;
      for (const s of Object.values(this.sides)) {
        s.ports.rtp.removeAllListeners('message');
        s.ports.rtcp.removeAllListeners('message');
      }
    }
    return this.stats;
  }

  private listen(from: RelaySideName, to: RelaySideName): void {
    const src = this.sides[from];
    const dst = this.sides[to];
    const handle = (socket: 'rtp' | 'rtcp') => (msg: Buffer, rinfo: RemoteInfo) => {
      if (this.closed) return;
      const rtcp = socket === 'rtcp' || isRtcp(msg);
      if (!this.accept(src, socket, rinfo)) {
        src.stats.ignored++;
        return;
      }
      if (!rtcp) {
        src.stats.received++;
        src.stats.lastReceivedAt = Date.now();
        if (src.digits && (msg[1]! & 0x7f) === src.digits.payloadType) return this.digit(from, src, msg);
      }
      // RTCP that came muxed on the RTP port leaves the same way; RTCP on its own port leaves on the other side's RTCP port.
      const out: Socket = socket === 'rtcp' ? dst.ports.rtcp : dst.ports.rtp;
      const target = dst.target(socket === 'rtcp' ? 'rtcp' : 'rtp');
      if (!target) return;
      out.send(msg, target.port, target.address);
      if (!rtcp) src.stats.forwarded++;
    };
    src.ports.rtp.on('message', handle('rtp'));
    src.ports.rtcp.on('message', handle('rtcp'));
  }

  /**
   * A telephone-event packet taken out of the stream: the key press is reported at its
   * end (the end packet is sent three times, §2.5.1.4: once per RTP timestamp).
   */
  private digit(from: RelaySideName, s: Side, msg: Buffer): void {
    let offset = 12 + 4 * (msg[0]! & 0x0f);
    if (msg[0]! & 0x10 && msg.length >= offset + 4) offset += 4 + 4 * msg.readUInt16BE(offset + 2);
    const e = msg.length >= offset + 4 ? parseTelephoneEvent(msg.subarray(offset)) : null;
    if (!e?.end) return;
    const timestamp = msg.readUInt32BE(4);
    const digit = digitOf(e.event);
    if (digit === undefined || timestamp === s.digits!.lastEnd) return;
    s.digits!.lastEnd = timestamp;
    this.onDigit(from, digit, Math.round(e.duration / 8));
  }

  /** The side's party, from an allowed address; the first packet latches the address and port. */
  private accept(s: Side, socket: 'rtp' | 'rtcp', from: RemoteInfo): boolean {
    const address = normalise(from.address);
    const latched = socket === 'rtp' ? s.latchedRtp : s.latchedRtcp;
    if (latched) return latched.address === address && latched.port === from.port;
    if (!s.allowed.has(address)) return false;
    if (socket === 'rtp') s.latchedRtp = { address, port: from.port };
    else s.latchedRtcp = { address, port: from.port };
    return true;
  }
}
