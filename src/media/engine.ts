// What the layers above ask of media: a port pair for a call's stream, then audio played
// into it, recorded out of it, and key presses both ways. Two engines keep this promise:
// LocalMediaEngine runs streams on the caller's own event loop (tests, and inside the
// worker), ThreadedMediaEngine runs that same engine on a worker thread so that no SIP
// message, API request or garbage collection on the main thread delays a packet.
// Everything crossing this interface can cross a thread: numbers, strings, samples.
import type { Direction } from './sdp.js';
import type { StreamStats } from './stats.js';

/** The negotiated stream (from the SDP offer/answer) a leg starts sending and receiving. */
export interface LegParams {
  /** Codec name (PCMU, PCMA) and the payload type the peer uses for it. */
  codec: string;
  payloadType: number;
  /** The peer's telephone-event payload type (RFC 4733), or null. */
  telephoneEvent: number | null;
  remote: RemoteMedia;
  /** Source addresses accepted (the SDP address and the signalling address). */
  allowedSources: string[];
  direction: Direction;
  /** Whether RTCP shares the RTP port (rtcp-mux). */
  rtcpMux: boolean;
}

export interface RemoteMedia {
  address: string;
  port: number;
  rtcpPort: number | null;
}

/** When a recording stops by itself. */
export interface RecordLimits {
  maxSeconds: number;
  /** This long below the silence threshold ends it (0: never). */
  silenceSeconds: number;
  /** Keys that end it (the key press is still reported). */
  stopDigits: string;
}

export type RecordEnd = 'hang-up' | 'silence' | 'length limit' | 'key' | 'stopped';

export interface RecordResult {
  /** Samples written (8 kHz); the file at the path is a complete WAV with this many. */
  samples: number;
  endedBy: RecordEnd;
}

/** One call's media: a port pair, and once negotiated, an RTP stream on it. */
export interface MediaLeg {
  /** The RTP port (RTCP is the next one). */
  readonly port: number;
  /** Starts the stream (once the SDP is negotiated). */
  start(params: LegParams): void;
  /** A re-INVITE changed where to send or the direction (hold). */
  update(remote: RemoteMedia, allowedSources: string[], direction: Direction): void;
  readonly direction: Direction;
  /** Plays the samples from the next tick; resolves when they have been sent, replaced, stopped, or the leg closed. */
  play(samples: Int16Array): Promise<void>;
  stopPlaying(): void;
  /** Sends a key press as RFC 4733 events (needs a negotiated telephone-event). */
  sendDigit(digit: string, ms?: number): void;
  /** Records what the peer sends into a WAV file at `path` until a limit, a stop key, stopRecording() or close. */
  record(path: string, limits: RecordLimits): Promise<RecordResult>;
  stopRecording(): void;
  /** Each key press from the peer, once. */
  onDigit: (digit: string) => void;
  /** The engine could not go on with this leg (its thread died): the call must end. */
  onFailure: (reason: string) => void;
  /** Figures so far (on a thread: as of its last report, at most a second old). */
  readonly stats: StreamStats;
  /** Closes the stream and frees the ports; resolves with the final figures. */
  close(): Promise<StreamStats>;
}

export type RelaySideName = 'a' | 'b';

/** What one side of a relay saw of its party: packets in (and forwarded to the other side), dropped, and when the last came. */
export interface RelaySideStats {
  received: number;
  forwarded: number;
  ignored: number;
  /** ms since the epoch of the last RTP packet from this side's party (0: none yet). */
  lastReceivedAt: number;
}

export interface RelayStats {
  a: RelaySideStats;
  b: RelaySideStats;
}

/**
 * Media anchored between two parties (a trunk call, a phone behind NAT): a port pair
 * toward each, packets passed through unchanged with symmetric latching on each side.
 */
export interface MediaRelay {
  readonly ports: { a: number; b: number };
  /** The relay's media address when it is not this host's (an external relay such as rtpengine); null: ours. */
  readonly address: string | null;
  /** Where a side's party said to send (its SDP), and the addresses it may send from. */
  update(side: RelaySideName, remote: RemoteMedia, allowedSources: string[]): void;
  /** Figures per side (on a thread: as of its last report, at most a second old). */
  readonly stats: RelayStats;
  onFailure: (reason: string) => void;
  /**
   * Key presses (RFC 4733 events of this payload type) that a side's party sends are
   * taken out of its stream and reported through onDigit instead of forwarded (a
   * provider that wants them as SIP INFO). False: this relay cannot (they stay in RTP).
   */
  takeDigits(side: RelaySideName, payloadType: number): boolean;
  /** A key press taken out of a side's stream, once, with its duration. */
  onDigit: (side: RelaySideName, digit: string, ms: number) => void;
  close(): Promise<RelayStats>;
}

/** Figures about the engine as a whole, for /metrics. */
export interface EngineStatus {
  portsInUse: number;
  /** Clock ticks run late and caught up, or dropped (the thread stalled). */
  caughtUp: number;
  dropped: number;
  /** p99 over the last minute of how late a tick started and how long it took (ms). */
  lateP99Ms: number;
  busyP99Ms: number;
}

export interface MediaEngine extends RelayFactory {
  /** Binds a port pair; rejects with MediaPortsExhausted when none is free. */
  open(): Promise<MediaLeg>;
  /** Binds two port pairs for a relay; rejects with MediaPortsExhausted when they are not free. */
  openRelay(): Promise<MediaRelay>;
  status(): EngineStatus;
  close(): Promise<void>;
}

/** Whatever opens relays: the media engine itself, or an external relay (rtpengine). */
export interface RelayFactory {
  openRelay(): Promise<MediaRelay>;
}

export const EMPTY_RELAY_STATS: RelayStats = {
  a: { received: 0, forwarded: 0, ignored: 0, lastReceivedAt: 0 },
  b: { received: 0, forwarded: 0, ignored: 0, lastReceivedAt: 0 },
};

export const EMPTY_STATS: StreamStats = { packetsSent: 0, packetsReceived: 0, packetsLost: 0, jitterMs: 0, packetsIgnored: 0 };
