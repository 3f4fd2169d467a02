// Reception statistics of one RTP source (RFC 3550 Appendix A.1 and A.8): packets,
// the extended highest sequence number, loss from what was expected, and interarrival
// jitter, for the call's CDR, /metrics and RTCP reports.

const SEQ_MOD = 1 << 16;

export interface StreamStats {
  packetsSent: number;
  packetsReceived: number;
  /** Expected minus received (negative with duplicates, as RFC 3550 allows). */
  packetsLost: number;
  /** Interarrival jitter in milliseconds. */
  jitterMs: number;
  /** Datagrams from sources other than the latched one, or not RTP at all. */
  packetsIgnored: number;
}

export class ReceptionStats {
  received = 0;
  private baseSeq = -1;
  private maxSeq = 0;
  private cycles = 0;
  /** In timestamp units, scaled by 16 as in A.8. */
  private jitter16 = 0;
  private lastTransit: number | null = null;

  constructor(private readonly clockRate = 8000) {}

  /** One packet: its sequence number and RTP timestamp, and its arrival time in ms. */
  packet(sequence: number, timestamp: number, arrivalMs: number): void {
    this.received++;
    if (this.baseSeq < 0) {
      this.baseSeq = sequence;
      this.maxSeq = sequence;
    } else {
      const delta = (sequence - this.maxSeq + SEQ_MOD) % SEQ_MOD;
      // Forward within half the space: a newer packet (wrapping counts a cycle); else late or duplicate.
      if (delta > 0 && delta < SEQ_MOD / 2) {
        if (sequence < this.maxSeq) this.cycles += SEQ_MOD;
        this.maxSeq = sequence;
      }
    }
    const arrival = (arrivalMs * this.clockRate) / 1000;
    const transit = arrival - timestamp;
    if (this.lastTransit !== null) {
      let d = transit - this.lastTransit;
      // A timestamp that wrapped past 2^32 between two packets.
      if (d > 2 ** 31) d -= 2 ** 32;
      else if (d < -(2 ** 31)) d += 2 ** 32;
      this.jitter16 += Math.abs(d) - ((this.jitter16 + 8) >> 4);
    }
    this.lastTransit = transit;
  }

  get extendedMax(): number {
    return this.cycles + this.maxSeq;
  }

  get expected(): number {
    return this.baseSeq < 0 ? 0 : this.extendedMax - this.baseSeq + 1;
  }

  get lost(): number {
    return this.expected - this.received;
  }

  /** Jitter in timestamp units (RTCP report blocks carry it so). */
  get jitterUnits(): number {
    return this.jitter16 >> 4;
  }

  get jitterMs(): number {
    return (this.jitter16 / 16 / this.clockRate) * 1000;
  }
}

/** Sum of squares over a frame, as mean power: what silence detection compares. */
export function meanPower(frame: Int16Array): number {
  let sum = 0;
  for (let i = 0; i < frame.length; i++) sum += frame[i]! * frame[i]!;
  return frame.length ? sum / frame.length : 0;
}

/**
 * Tells when audio has been quiet for a while (a caller who stopped talking and
 * forgot to hang up). Quiet = below `thresholdDb` dBFS for `seconds`.
 */
export class SilenceDetector {
  private quietFrames = 0;
  private readonly threshold: number;
  private readonly frames: number;

  constructor(seconds: number, thresholdDb = -45, frameMs = 20) {
    this.threshold = 32768 ** 2 * 10 ** (thresholdDb / 10);
    this.frames = Math.ceil((seconds * 1000) / frameMs);
  }

  /** True once the last `seconds` were all quiet. */
  frame(pcm: Int16Array): boolean {
    this.quietFrames = meanPower(pcm) < this.threshold ? this.quietFrames + 1 : 0;
    return this.quietFrames >= this.frames;
  }

  /** How many of the last frames were quiet in a row. */
  get quietFrameCount(): number {
    return this.quietFrames;
  }
}
