// The media engine on the current event loop: a port pool, one pacing clock, and per leg
// an RtpStream with playback, recording to WAV (with silence detection) and key presses.
// The worker thread runs exactly this; tests may run it directly.
import { MediaClock } from './clock.js';
import { RtpRelay } from './relay.js';
import { EMPTY_STATS, type EngineStatus, type MediaRelay, type RelaySideName, type RelayStats, type LegParams, type MediaEngine, type MediaLeg, type RecordEnd, type RecordLimits, type RecordResult, type RemoteMedia } from './engine.js';
import { codecByName } from './g711.js';
import { PortPool, type MediaPorts, type PortRange } from './ports.js';
import type { Direction } from './sdp.js';
import { SilenceDetector, type StreamStats } from './stats.js';
import { RtpStream, SamplesSource } from './stream.js';
import { WavWriter } from './wav.js';

export class LocalMediaEngine implements MediaEngine {
  private readonly pool: PortPool;

  constructor(
    range: () => PortRange,
    private readonly clock = new MediaClock(),
  ) {
    this.pool = new PortPool(range);
  }

  async open(): Promise<LocalLeg> {
    return new LocalLeg(await this.pool.open(), this.clock, this.pool);
  }

  async openRelay(): Promise<LocalRelay> {
    const a = await this.pool.open();
    try {
      return new LocalRelay(a, await this.pool.open(), this.pool);
    } catch (err) {
      this.pool.release(a);
      throw err;
    }
  }

  status(): EngineStatus {
    const t = this.clock.timing(99);
    return { portsInUse: this.pool.used, ...this.clock.counters, lateP99Ms: t.lateMs, busyP99Ms: t.busyMs };
  }

  async close(): Promise<void> {
    this.clock.stop();
  }
}

export class LocalRelay implements MediaRelay {
  readonly address = null;
  private readonly relay: RtpRelay;
  private done: RelayStats | null = null;
  onFailure: (reason: string) => void = () => {};

  constructor(
    private readonly a: MediaPorts,
    private readonly b: MediaPorts,
    private readonly pool: PortPool,
  ) {
    this.relay = new RtpRelay(a, b);
  }

  get ports(): { a: number; b: number } {
    return this.relay.ports;
  }

  get stats(): RelayStats {
    return this.done ?? this.relay.stats;
  }

  update(side: RelaySideName, remote: RemoteMedia, allowedSources: string[]): void {
    this.relay.update(side, remote, allowedSources);
  }

  takeDigits(side: RelaySideName, payloadType: number): boolean {
    this.relay.takeDigits(side, payloadType);
    return true;
  }

  get onDigit(): (side: RelaySideName, digit: string, ms: number) => void {
    return this.relay.onDigit;
  }

  set onDigit(f: (side: RelaySideName, digit: string, ms: number) => void) {
    this.relay.onDigit = f;
  }

  async close(): Promise<RelayStats> {
    if (!this.done) {
      this.done = this.relay.close();
      this.pool.release(this.a);
      this.pool.release(this.b);
    }
    return this.done;
  }
}

interface ActiveRecording {
  stopDigits: string;
  finish(endedBy: RecordEnd): void;
}

export class LocalLeg implements MediaLeg {
  private stream: RtpStream | null = null;
  private recording: ActiveRecording | null = null;
  /** The last recording's file being finished (close waits for it: the result comes first). */
  private finishing: Promise<unknown> = Promise.resolve();
  private audioSink: ((frame: Int16Array) => void) | null = null;
  private closed = false;
  onDigit: (digit: string) => void = () => {};
  onFailure: (reason: string) => void = () => {};

  constructor(
    private readonly ports: MediaPorts,
    private readonly clock: MediaClock,
    private readonly pool: PortPool,
  ) {}

  get port(): number {
    return this.ports.port;
  }

  get direction(): Direction {
    return this.stream?.direction ?? 'sendrecv';
  }

  get stats(): StreamStats {
    return this.stream?.stats ?? EMPTY_STATS;
  }

  start(p: LegParams): void {
    if (this.closed || this.stream) return;
    const codec = codecByName(p.codec);
    if (!codec) throw new Error(`The media layer has no codec ${p.codec}`);
    const s = new RtpStream({
      rtp: this.ports.rtp,
      rtcp: p.rtcpMux ? null : this.ports.rtcp,
      codec,
      payloadType: p.payloadType,
      telephoneEvent: p.telephoneEvent,
      remote: p.remote,
      allowedSources: p.allowedSources,
      clock: this.clock,
      direction: p.direction,
    });
    s.onAudio = (frame) => this.audioSink?.(frame);
    s.onDigit = (digit) => {
      if (this.recording?.stopDigits.includes(digit)) this.recording.finish('key');
      this.onDigit(digit);
    };
    this.stream = s;
  }

  update(remote: RemoteMedia, allowedSources: string[], direction: Direction): void {
    this.stream?.updateRemote(remote, allowedSources, direction);
  }

  play(samples: Int16Array): Promise<void> {
    if (!this.stream || this.closed) return Promise.resolve();
    return this.stream.play(new SamplesSource(samples));
  }

  stopPlaying(): void {
    this.stream?.stopPlaying();
  }

  sendDigit(digit: string, ms?: number): void {
    if (!this.stream) throw new Error('The stream has not started');
    this.stream.sendDigit(digit, ms);
  }

  record(path: string, limits: RecordLimits): Promise<RecordResult> {
    this.stopRecording();
    if (this.closed) return Promise.resolve({ samples: 0, endedBy: 'hang-up' });
    let writer: WavWriter;
    try {
      writer = new WavWriter(path);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    const silence = limits.silenceSeconds > 0 ? new SilenceDetector(limits.silenceSeconds) : null;
    const maxFrames = Math.ceil(limits.maxSeconds * 50);
    let frames = 0;
    return new Promise<RecordResult>((resolve, reject) => {
      const active: ActiveRecording = {
        stopDigits: limits.stopDigits,
        finish: (endedBy) => {
          if (this.recording !== active) return;
          this.recording = null;
          this.audioSink = null;
          this.finishing = writer.finishAsync().then((samples) => resolve({ samples, endedBy }), reject);
        },
      };
      this.recording = active;
      this.audioSink = (frame) => {
        writer.write(frame);
        frames++;
        if (silence?.frame(frame)) active.finish('silence');
        else if (frames >= maxFrames) active.finish('length limit');
      };
    });
  }

  stopRecording(): void {
    this.recording?.finish('stopped');
  }

  async close(): Promise<StreamStats> {
    if (this.closed) return this.stats;
    this.recording?.finish('hang-up');
    this.closed = true;
    const stats = this.stats;
    this.stream?.close();
    this.pool.release(this.ports);
    await this.finishing;
    return stats;
  }
}
