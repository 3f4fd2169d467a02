// RTP packets (RFC 3550 §5.1): the fixed 12-byte header read from and written into
// buffers the caller owns, so that a stream sending 50 packets a second allocates
// nothing per packet. CSRC lists, header extensions and padding are skipped on read.
export const RTP_HEADER_BYTES = 12;

/** What a received packet says; `payload` is a view into the datagram, not a copy. */
export interface RtpPacket {
  payloadType: number;
  marker: boolean;
  sequence: number;
  timestamp: number;
  ssrc: number;
  payload: Buffer;
}

/**
 * The packet in `datagram`, or null when it is not RTP version 2 or its lengths do not
 * add up (a STUN or RTCP packet on a muxed port, garbage, a truncated datagram).
 */
export function parseRtp(datagram: Buffer): RtpPacket | null {
  if (datagram.length < RTP_HEADER_BYTES) return null;
  const b0 = datagram[0]!;
  if (b0 >> 6 !== 2) return null;
  const b1 = datagram[1]!;
  const payloadType = b1 & 0x7f;
  // RFC 5761 §4: with rtcp-mux, payload types 64–95 (marker set) are RTCP packet types 192–223.
  if (payloadType >= 64 && payloadType <= 95) return null;
  let offset = RTP_HEADER_BYTES + 4 * (b0 & 0x0f);
  if (b0 & 0x10) {
    if (datagram.length < offset + 4) return null;
    offset += 4 + 4 * datagram.readUInt16BE(offset + 2);
  }
  let end = datagram.length;
  if (b0 & 0x20) end -= datagram[datagram.length - 1]!;
  if (offset > end) return null;
  return {
    payloadType,
    marker: (b1 & 0x80) !== 0,
    sequence: datagram.readUInt16BE(2),
    timestamp: datagram.readUInt32BE(4),
    ssrc: datagram.readUInt32BE(8),
    payload: datagram.subarray(offset, end),
  };
}

/** Writes a fixed header (version 2, no padding, extension or CSRC) at the start of `out`. */
export function writeRtpHeader(out: Buffer, payloadType: number, marker: boolean, sequence: number, timestamp: number, ssrc: number): void {
  out[0] = 0x80;
  out[1] = (marker ? 0x80 : 0) | (payloadType & 0x7f);
  out.writeUInt16BE(sequence & 0xffff, 2);
  out.writeUInt32BE(timestamp >>> 0, 4);
  out.writeUInt32BE(ssrc >>> 0, 8);
}

/** RFC 5761 §4: on a port shared by RTP and RTCP, the second byte tells them apart. */
export function isRtcp(datagram: Buffer): boolean {
  if (datagram.length < 8 || datagram[0]! >> 6 !== 2) return false;
  const pt = datagram[1]!;
  return pt >= 192 && pt <= 223;
}
