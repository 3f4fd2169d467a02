// One RTP audio stream between this host and a peer: receives, decodes and hands
// frames on; sends a frame every clock tick (from what is being played, or silence);
// DTMF in (RFC 4733); RTCP reports; statistics.
//
// Symmetric RTP (RFC 4961): the stream sends to where the peer's packets come from.
// Only sources whose address the caller allows (the SDP address, the phone's
// signalling address for phones behind NAT) are accepted; the first packet from one
// latches the stream to its address and port, and packets from anywhere else are
// counted and dropped (no media injection from a third party).
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Socket, RemoteInfo } from 'node:dgram';
import type { MediaClock, Tickable } from './clock.js';
import type { AudioCodec } from './g711.js';
import { DtmfReceiver, dtmfPackets } from './dtmf.js';
import { parseRtp, RTP_HEADER_BYTES, writeRtpHeader, isRtcp } from './rtp.js';
import { ReceptionStats, type StreamStats } from './stats.js';
import { compoundReport, ReportState, senderReportNtp } from './rtcp.js';
import type { Direction } from './sdp.js';
import { normaliseAddress as normalise } from './addresses.js';

export const FRAME_SAMPLES = 160;

/** Where audio to send comes from: fills `out` and says false when it has ended. */
export interface AudioSource {
  read(out: Int16Array): boolean;
}

export interface StreamOptions {
  rtp: Socket;
  rtcp: Socket | null;
  codec: AudioCodec;
  /** The payload type the peer uses for the codec, and for telephone-event (null: none). */
  payloadType: number;
  telephoneEvent: number | null;
  /** Where the SDP said to send, until the peer's own packets say otherwise. */
  remote: { address: string; port: number; rtcpPort: number | null };
  /** Source addresses accepted (the SDP address and the signalling address). */
  allowedSources: string[];
  clock: MediaClock;
  direction?: Direction;
  cname?: string;
  /** Ticks between RTCP reports (5 s at 20 ms, RFC 3550 §6.2's minimum). */
  reportEvery?: number;
}

export class RtpStream implements Tickable {
  private readonly ssrc = randomBytes(4).readUInt32BE(0);
  private sequence = randomBytes(2).readUInt16BE(0);
  private timestamp = randomBytes(4).readUInt32BE(0);
  /** Packets are sent from a small ring: dgram may still hold the previous one. */
  private readonly ring: Buffer[];
  private ringAt = 0;
  private readonly frameOut = new Int16Array(FRAME_SAMPLES);
  private readonly frameIn = new Int16Array(FRAME_SAMPLES);
  private readonly silence = new Int16Array(FRAME_SAMPLES);
  private readonly allowed: Set<string>;
  private latched: { address: string; port: number } | null = null;
  private rtcpTarget: { address: string; port: number } | null;
  private readonly reception: ReceptionStats;
  private readonly reports = new ReportState();
  private readonly dtmf: DtmfReceiver;
  private peerSsrc = 0;
  private lastSr = 0;
  private lastSrAt = 0;
  private sent = 0;
  private octets = 0;
  private sentSinceReport = false;
  private ignored = 0;
  private ticks = 0;
  private source: AudioSource | null = null;
  private sourceEnded: (() => void) | null = null;
  /** Key presses waiting to be sent, and the packets of the one being sent. */
  private pendingDigits: { digit: string; ms: number }[] = [];
  private dtmfOut: { payload: Buffer; marker: boolean; timestamp: number }[] = [];
  private talkspurt = true;
  private closed = false;
  direction: Direction;

  /** Each decoded 20 ms frame (valid during the call only: the array is reused). */
  onAudio: (frame: Int16Array) => void = () => {};
  /** Each DTMF key press, once. */
  onDigit: (digit: string) => void = () => {};

  constructor(private readonly o: StreamOptions) {
    this.direction = o.direction ?? 'sendrecv';
    this.allowed = new Set(o.allowedSources.map(normalise));
    this.reception = new ReceptionStats(o.codec.clockRate);
    this.dtmf = new DtmfReceiver((d) => this.onDigit(d));
    this.ring = Array.from({ length: 8 }, () => Buffer.alloc(RTP_HEADER_BYTES + FRAME_SAMPLES));
    this.rtcpTarget = o.remote.rtcpPort === null ? null : { address: o.remote.address, port: o.remote.rtcpPort };
    o.rtp.on('message', (msg, from) => this.receive(msg, from));
    o.rtcp?.on('message', (msg, from) => this.receiveRtcp(msg, from));
    o.clock.add(this);
  }

  /** Plays `source` from the next tick; resolves when it has ended or was replaced. */
  play(source: AudioSource): Promise<void> {
    this.sourceEnded?.();
    this.source = source;
    this.talkspurt = true;
    return new Promise((resolve) => {
      this.sourceEnded = resolve;
    });
  }

  stopPlaying(): void {
    this.source = null;
    const done = this.sourceEnded;
    this.sourceEnded = null;
    done?.();
  }

  /** Sends a key press as RFC 4733 events on the following ticks (needs a negotiated telephone-event). */
  sendDigit(digit: string, ms = 100): void {
    if (this.o.telephoneEvent === null) throw new Error('telephone-event was not negotiated');
    dtmfPackets(digit, 0, ms); // refuses what is no digit now, not on a later tick
    this.pendingDigits.push({ digit, ms });
  }

  /** The SDP of a re-INVITE changed where to send (hold, a new port). */
  updateRemote(remote: { address: string; port: number; rtcpPort: number | null }, allowedSources: string[], direction: Direction): void {
    this.o.remote = remote;
    this.allowed.clear();
    for (const a of allowedSources) this.allowed.add(normalise(a));
    this.latched = null;
    this.rtcpTarget = remote.rtcpPort === null ? null : { address: remote.address, port: remote.rtcpPort };
    this.direction = direction;
  }

  get stats(): StreamStats {
    return {
      packetsSent: this.sent,
      packetsReceived: this.reception.received,
      packetsLost: this.reception.lost,
      jitterMs: Math.round(this.reception.jitterMs * 100) / 100,
      packetsIgnored: this.ignored,
    };
  }

  /** Where packets go now: the latched source, else the SDP address. */
  get target(): { address: string; port: number } {
    return this.latched ?? { address: this.o.remote.address, port: this.o.remote.port };
  }

  tick(): void {
    if (this.closed) return;
    this.ticks++;
    const sending = this.direction === 'sendrecv' || this.direction === 'sendonly';
    if (sending && this.o.remote.address !== '0.0.0.0') {
      const dtmf = this.nextDtmfPacket();
      if (dtmf) this.sendPacket(this.o.telephoneEvent!, dtmf.marker, dtmf.timestamp, dtmf.payload);
      else this.sendFrame();
    }
    this.timestamp = (this.timestamp + FRAME_SAMPLES) >>> 0;
    if (this.ticks % (this.o.reportEvery ?? 250) === 0) this.sendReport();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.o.clock.remove(this);
    this.o.rtp.removeAllListeners('message');
    this.o.rtcp?.removeAllListeners('message');
    this.stopPlaying();
  }

  /**
   * An event starts at the timestamp of the tick it is first sent on (§2.3: each event's
   * packets carry its start time), and two events are kept apart by two ticks of audio,
   * so a receiver never takes two presses of the same key for one.
   */
  private nextDtmfPacket(): { payload: Buffer; marker: boolean; timestamp: number } | undefined {
    if (this.dtmfOut.length === 0) {
      const next = this.pendingDigits[0];
      if (!next || this.ticks < this.dtmfGapUntil) return undefined;
      this.pendingDigits.shift();
      this.dtmfOut = dtmfPackets(next.digit, this.timestamp, next.ms);
    }
    const p = this.dtmfOut.shift();
    if (this.dtmfOut.length === 0) this.dtmfGapUntil = this.ticks + 2;
    return p;
  }

  private dtmfGapUntil = 0;

  private sendFrame(): void {
    let frame = this.silence;
    if (this.source) {
      if (this.source.read(this.frameOut)) frame = this.frameOut;
      else this.stopPlaying();
    }
    const buf = this.nextBuffer();
    this.o.codec.encode(frame, buf.subarray(RTP_HEADER_BYTES));
    writeRtpHeader(buf, this.o.payloadType, this.talkspurt, this.sequence, this.timestamp, this.ssrc);
    this.talkspurt = false;
    this.emit(buf, FRAME_SAMPLES);
  }

  private sendPacket(payloadType: number, marker: boolean, timestamp: number, payload: Buffer): void {
    const buf = Buffer.alloc(RTP_HEADER_BYTES + payload.length);
    writeRtpHeader(buf, payloadType, marker, this.sequence, timestamp, this.ssrc);
    payload.copy(buf, RTP_HEADER_BYTES);
    this.emit(buf, payload.length);
  }

  private emit(buf: Buffer, payloadBytes: number): void {
    const t = this.target;
    this.o.rtp.send(buf, t.port, t.address);
    this.sequence = (this.sequence + 1) & 0xffff;
    this.sent++;
    this.octets += payloadBytes;
    this.sentSinceReport = true;
  }

  private nextBuffer(): Buffer {
    const b = this.ring[this.ringAt]!;
    this.ringAt = (this.ringAt + 1) % this.ring.length;
    return b;
  }

  private accept(from: RemoteInfo): boolean {
    if (this.latched) return this.latched.port === from.port && this.latched.address === normalise(from.address);
    if (!this.allowed.has(normalise(from.address))) return false;
    this.latched = { address: normalise(from.address), port: from.port };
    // Symmetric RTCP follows the latched RTP source (port + 1 unless muxed).
    if (this.rtcpTarget) this.rtcpTarget = { address: this.latched.address, port: from.port + 1 };
    return true;
  }

  private receive(msg: Buffer, from: RemoteInfo): void {
    if (this.closed) return;
    if (isRtcp(msg)) {
      this.receiveRtcp(msg, from);
      return;
    }
    const p = parseRtp(msg);
    if (!p || !this.accept(from)) {
      this.ignored++;
      return;
    }
    this.peerSsrc = p.ssrc;
    this.reception.packet(p.sequence, p.timestamp, performance.now());
    if (p.payloadType === this.o.telephoneEvent) {
      this.dtmf.receive(p.timestamp, p.payload);
      return;
    }
    if (p.payloadType !== this.o.payloadType) return; // comfort noise, another codec: not audio we decode
    this.frameIn.fill(0);
    this.o.codec.decode(p.payload, this.frameIn);
    this.onAudio(p.payload.length === FRAME_SAMPLES ? this.frameIn : this.frameIn.subarray(0, Math.min(p.payload.length, FRAME_SAMPLES)));
  }

  private receiveRtcp(msg: Buffer, from: RemoteInfo): void {
    if (this.closed) return;
    if (!this.allowed.has(normalise(from.address))) {
      this.ignored++;
      return;
    }
    const ntp = senderReportNtp(msg);
    if (ntp !== null) {
      this.lastSr = ntp;
      this.lastSrAt = Date.now();
    }
  }

  private sendReport(): void {
    const socket = this.o.rtcp && this.rtcpTarget ? this.o.rtcp : this.o.rtp;
    const target = this.rtcpTarget ?? this.target;
    if (target.address === '0.0.0.0') return;
    const r = this.reception;
    const packet = compoundReport(
      { ssrc: this.ssrc, rtpTimestamp: this.timestamp, packets: this.sent, octets: this.octets },
      this.sentSinceReport,
      r.received ? { ssrc: this.peerSsrc, expected: r.expected, received: r.received, extendedMax: r.extendedMax, jitterUnits: r.jitterUnits, lastSr: this.lastSr, lastSrAt: this.lastSrAt } : null,
      this.reports,
      this.o.cname ?? 'pbx',
    );
    this.sentSinceReport = false;
    socket.send(packet, target.port, target.address);
  }
}

/** Plays samples from memory (a prompt, a recorded message). */
export class SamplesSource implements AudioSource {
  private at = 0;

  constructor(private readonly samples: Int16Array) {}

  read(out: Int16Array): boolean {
    if (this.at >= this.samples.length) return false;
    const n = Math.min(out.length, this.samples.length - this.at);
    out.set(this.samples.subarray(this.at, this.at + n));
    if (n < out.length) out.fill(0, n);
    this.at += n;
    return true;
  }
}
