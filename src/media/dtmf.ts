// DTMF as RFC 4733 telephone-events: the 4-byte payload, a receiver that reports each
// key press once (every packet of an event repeats its start timestamp, the end packet
// is sent three times, §2.5.1.4), and the packets that send one key press.

/** §3.2: events 0–9, 10 `*`, 11 `#`, 12–15 A–D. */
const DIGITS = '0123456789*#ABCD';

export interface TelephoneEvent {
  event: number;
  end: boolean;
  volume: number;
  duration: number;
}

export function parseTelephoneEvent(payload: Uint8Array): TelephoneEvent | null {
  if (payload.length < 4) return null;
  return { event: payload[0]!, end: (payload[1]! & 0x80) !== 0, volume: payload[1]! & 0x3f, duration: (payload[2]! << 8) | payload[3]! };
}

export function writeTelephoneEvent(out: Uint8Array, e: TelephoneEvent): void {
  out[0] = e.event;
  out[1] = (e.end ? 0x80 : 0) | (e.volume & 0x3f);
  out[2] = (e.duration >> 8) & 0xff;
  out[3] = e.duration & 0xff;
}

export function digitOf(event: number): string | undefined {
  return DIGITS[event];
}

export function eventOf(digit: string): number {
  const i = DIGITS.indexOf(digit.toUpperCase());
  if (i < 0) throw new RangeError(`"${digit}" is no DTMF digit`);
  return i;
}

/**
 * Reports each key press once, when its first packet arrives (a menu reacts at once).
 * An event is known by its RTP timestamp (§2.3: all its packets carry the start time);
 * retransmitted end packets and the continuation segments of a very long press (§2.5.1.3:
 * the next segment starts where the previous one's duration ended) are not new presses.
 */
export class DtmfReceiver {
  private lastTimestamp = -1;
  private lastEvent = -1;
  private lastEnd = -1;

  constructor(private readonly onDigit: (digit: string) => void) {}

  receive(timestamp: number, payload: Uint8Array): void {
    const e = parseTelephoneEvent(payload);
    if (!e) return;
    const digit = digitOf(e.event);
    if (digit === undefined) return;
    if (timestamp === this.lastTimestamp) {
      this.lastEnd = (timestamp + e.duration) >>> 0;
      return;
    }
    const continues = e.event === this.lastEvent && timestamp === this.lastEnd;
    this.lastTimestamp = timestamp;
    this.lastEvent = e.event;
    this.lastEnd = (timestamp + e.duration) >>> 0;
    if (!continues) this.onDigit(digit);
  }
}

export interface DtmfPacket {
  payload: Buffer;
  marker: boolean;
  /** RTP timestamp: the event's start for every packet (§2.3). */
  timestamp: number;
}

/**
 * The packets of one key press lasting `ms` milliseconds, sent one per `packetMs` from
 * `startTimestamp` (samples at `clockRate`): the first with the marker bit (§2.5.1.1),
 * then growing durations, then the end packet three times (§2.5.1.4).
 */
export function dtmfPackets(digit: string, startTimestamp: number, ms = 100, packetMs = 20, clockRate = 8000, volume = 10): DtmfPacket[] {
  const event = eventOf(digit);
  const step = (packetMs * clockRate) / 1000;
  const total = Math.round((ms * clockRate) / 1000);
  const packets: DtmfPacket[] = [];
  for (let d = step; d < total; d += step) {
    const payload = Buffer.alloc(4);
    writeTelephoneEvent(payload, { event, end: false, volume, duration: d });
    packets.push({ payload, marker: packets.length === 0, timestamp: startTimestamp });
  }
  for (let i = 0; i < 3; i++) {
    const payload = Buffer.alloc(4);
    writeTelephoneEvent(payload, { event, end: true, volume, duration: total });
    packets.push({ payload, marker: packets.length === 0, timestamp: startTimestamp });
  }
  return packets;
}
