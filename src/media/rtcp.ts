// RTCP sender and receiver reports (RFC 3550 §6.4) with the SDES CNAME every compound
// packet must carry (§6.1), and reading the peer's sender report for the LSR/DLSR
// fields of ours (§6.4.1).

/** The NTP time now: seconds since 1900 and the fraction, as two 32-bit words. */
function ntpNow(): [number, number] {
  const ms = Date.now();
  const seconds = Math.floor(ms / 1000) + 2_208_988_800;
  const fraction = Math.floor(((ms % 1000) / 1000) * 2 ** 32);
  return [seconds >>> 0, fraction >>> 0];
}

export interface ReportSource {
  /** The peer's SSRC, and what we received from it. */
  ssrc: number;
  expected: number;
  received: number;
  extendedMax: number;
  jitterUnits: number;
  /** Middle 32 bits of the NTP time of the peer's last SR, and when it arrived (ms). */
  lastSr: number;
  lastSrAt: number;
}

export interface SenderInfo {
  ssrc: number;
  rtpTimestamp: number;
  packets: number;
  octets: number;
}

/** Remembers what a report interval needs from the previous one (fraction lost, §6.4.1). */
export class ReportState {
  private priorExpected = 0;
  private priorReceived = 0;

  block(out: Buffer, offset: number, s: ReportSource): void {
    const expectedInterval = s.expected - this.priorExpected;
    const receivedInterval = s.received - this.priorReceived;
    this.priorExpected = s.expected;
    this.priorReceived = s.received;
    const lostInterval = expectedInterval - receivedInterval;
    const fraction = expectedInterval <= 0 || lostInterval <= 0 ? 0 : Math.min(255, Math.floor((lostInterval << 8) / expectedInterval));
    const cumulative = Math.max(-0x800000, Math.min(0x7fffff, s.expected - s.received));
    out.writeUInt32BE(s.ssrc >>> 0, offset);
    out.writeUInt32BE(((fraction & 0xff) << 24 | (cumulative & 0xffffff)) >>> 0, offset + 4);
    out.writeUInt32BE(s.extendedMax >>> 0, offset + 8);
    out.writeUInt32BE(s.jitterUnits >>> 0, offset + 12);
    out.writeUInt32BE(s.lastSr >>> 0, offset + 16);
    const dlsr = s.lastSrAt ? Math.floor(((Date.now() - s.lastSrAt) / 1000) * 65536) : 0;
    out.writeUInt32BE(dlsr >>> 0, offset + 20);
  }
}

/**
 * A compound packet: SR when we have sent media since the last report, else RR; one
 * report block when we have heard the peer; then SDES with our CNAME.
 */
export function compoundReport(sender: SenderInfo, sentSinceLast: boolean, source: ReportSource | null, state: ReportState, cname: string): Buffer {
  const blocks = source ? 1 : 0;
  const reportLen = (sentSinceLast ? 28 : 8) + 24 * blocks;
  const cnameBytes = Buffer.from(cname, 'utf8').subarray(0, 255);
  // SDES: header 4, SSRC 4, item type+length 2, text, END item, padded to 32 bits.
  const sdesLen = Math.ceil((4 + 4 + 2 + cnameBytes.length + 1) / 4) * 4;
  const out = Buffer.alloc(reportLen + sdesLen);
  out[0] = 0x80 | blocks;
  out[1] = sentSinceLast ? 200 : 201;
  out.writeUInt16BE(reportLen / 4 - 1, 2);
  out.writeUInt32BE(sender.ssrc >>> 0, 4);
  let o = 8;
  if (sentSinceLast) {
    const [sec, frac] = ntpNow();
    out.writeUInt32BE(sec, 8);
    out.writeUInt32BE(frac, 12);
    out.writeUInt32BE(sender.rtpTimestamp >>> 0, 16);
    out.writeUInt32BE(sender.packets >>> 0, 20);
    out.writeUInt32BE(sender.octets >>> 0, 24);
    o = 28;
  }
  if (source) state.block(out, o, source);
  const s = reportLen;
  out[s] = 0x81;
  out[s + 1] = 202;
  out.writeUInt16BE(sdesLen / 4 - 1, s + 2);
  out.writeUInt32BE(sender.ssrc >>> 0, s + 4);
  out[s + 8] = 1; // CNAME
  out[s + 9] = cnameBytes.length;
  cnameBytes.copy(out, s + 10);
  return out;
}

/** The middle 32 bits of the NTP timestamp of a sender report in `packet`, if it holds one. */
export function senderReportNtp(packet: Buffer): number | null {
  let o = 0;
  while (o + 4 <= packet.length) {
    if (packet[o]! >> 6 !== 2) return null;
    const pt = packet[o + 1]!;
    const len = (packet.readUInt16BE(o + 2) + 1) * 4;
    if (pt === 200 && o + 20 <= packet.length) return ((packet.readUInt32BE(o + 8) & 0xffff) << 16 | packet.readUInt32BE(o + 12) >>> 16) >>> 0;
    o += len;
  }
  return null;
}
