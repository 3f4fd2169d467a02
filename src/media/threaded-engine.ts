// The media engine on worker threads (engine-worker.ts): the main thread keeps the
// signalling and the services' logic and sends commands (open, play, record…); each
// worker owns its calls' sockets and its own clock, and takes every n-th port pair of
// the range. A new call goes to the thread with the fewest. Audio never crosses per packet: prompts go
// over once per play, recordings are written to disk by the worker, and figures come
// back once a second. If the thread dies, every leg reports a failure (its calls end)
// and the next call starts a new thread.
import type { Worker } from 'node:worker_threads';
import { moduleWorker } from '../util/worker-thread.js';
import { EMPTY_RELAY_STATS, EMPTY_STATS, type EngineStatus, type RelaySideName, type RelayStats, type LegParams, type MediaEngine, type MediaLeg, type MediaRelay, type RecordLimits, type RecordResult, type RemoteMedia } from './engine.js';
import { MediaPortsExhausted, type PortRange } from './ports.js';
import type { Direction } from './sdp.js';
import type { StreamStats } from './stats.js';

export type Command =
  | { op: 'open'; id: number; range: PortRange; kind: 'leg' | 'relay' }
  | { op: 'relay-update'; id: number; side: RelaySideName; remote: RemoteMedia; allowedSources: string[] }
  | { op: 'relay-digits'; id: number; side: RelaySideName; payloadType: number }
  | { op: 'start'; id: number; params: LegParams }
  | { op: 'update'; id: number; remote: RemoteMedia; allowedSources: string[]; direction: Direction }
  | { op: 'play'; id: number; seq: number; samples: Int16Array }
  | { op: 'stop-playing'; id: number }
  | { op: 'digit'; id: number; digit: string; ms: number | undefined }
  | { op: 'record'; id: number; seq: number; path: string; limits: RecordLimits }
  | { op: 'stop-recording'; id: number }
  | { op: 'close'; id: number };

export type Report =
  | { ev: 'opened'; id: number; port: number }
  | { ev: 'relay-opened'; id: number; a: number; b: number }
  | { ev: 'relay-closed'; id: number; stats: RelayStats }
  | { ev: 'open-failed'; id: number; message: string; exhausted: boolean }
  | { ev: 'played'; id: number; seq: number }
  | { ev: 'digit'; id: number; digit: string }
  | { ev: 'relay-digit'; id: number; side: RelaySideName; digit: string; ms: number }
  | { ev: 'recorded'; id: number; seq: number; result: RecordResult }
  | { ev: 'record-failed'; id: number; seq: number; message: string }
  | { ev: 'closed'; id: number; stats: StreamStats }
  | { ev: 'failed'; id: number; message: string }
  | { ev: 'report'; legs: [number, StreamStats][]; relays: [number, RelayStats][]; status: EngineStatus };

const IDLE: EngineStatus = { portsInUse: 0, caughtUp: 0, dropped: 0, lateP99Ms: 0, busyP99Ms: 0 };

export class ThreadedMediaEngine implements MediaEngine {
  private readonly threads: MediaThread[];
  /** A thread failed (the engine carries on with a new one): for the log. */
  onError: (err: Error) => void = () => {};

  constructor(range: () => PortRange, threads = 1) {
    const n = Math.max(1, Math.floor(threads));
    this.threads = Array.from({ length: n }, (_, index) => new MediaThread(() => ({ ...range(), slice: { index, count: n } }), (err) => this.onError(err)));
  }

  open(): Promise<MediaLeg> {
    return this.onSomeThread((t) => t.open());
  }

  openRelay(): Promise<MediaRelay> {
    return this.onSomeThread((t) => t.openRelay());
  }

  /** On the thread with the fewest calls; when its share of the ports is used up, on the next. */
  private async onSomeThread<T>(fn: (t: MediaThread) => Promise<T>): Promise<T> {
    const order = [...this.threads].sort((a, b) => a.load - b.load);
    for (let i = 0; ; i++) {
      try {
        return await fn(order[i]!);
      } catch (err) {
        if (!(err instanceof MediaPortsExhausted) || i === order.length - 1) throw err;
      }
    }
  }

  status(): EngineStatus {
    const all = this.threads.map((t) => t.status());
    return {
      portsInUse: all.reduce((a, s) => a + s.portsInUse, 0),
      caughtUp: all.reduce((a, s) => a + s.caughtUp, 0),
      dropped: all.reduce((a, s) => a + s.dropped, 0),
      lateP99Ms: Math.max(...all.map((s) => s.lateP99Ms)),
      busyP99Ms: Math.max(...all.map((s) => s.busyP99Ms)),
    };
  }

  async close(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.close()));
  }
}

/** What a thread runs for a call: a leg (a stream the pbx plays and records) or a relay. */
interface Unit {
  event(r: Report): void;
  fail(reason: string): void;
  close(): Promise<unknown>;
}

/** One media worker thread and the legs and relays it runs. */
class MediaThread implements MediaEngine {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly opening = new Map<number, { resolve: (unit: ThreadedLeg | ThreadedRelay) => void; reject: (err: Error) => void }>();
  private readonly legs = new Map<number, Unit>();
  private last: EngineStatus = IDLE;

  constructor(
    private readonly range: () => PortRange,
    private readonly onError: (err: Error) => void,
  ) {}

  /** Calls this thread has or is opening. */
  get load(): number {
    return this.legs.size + this.opening.size;
  }

  open(): Promise<MediaLeg> {
    return this.openUnit('leg') as Promise<ThreadedLeg>;
  }

  openRelay(): Promise<MediaRelay> {
    return this.openUnit('relay') as Promise<ThreadedRelay>;
  }

  private openUnit(kind: 'leg' | 'relay'): Promise<ThreadedLeg | ThreadedRelay> {
    const id = this.nextId++;
    const w = this.thread();
    return new Promise((resolve, reject) => {
      this.opening.set(id, { resolve, reject });
      this.keepAlive();
      w.postMessage({ op: 'open', id, range: this.range(), kind } satisfies Command);
    });
  }

  status(): EngineStatus {
    // Ports are counted here (the report may be a second old); the clock's figures are the thread's.
    let ports = 0;
    for (const u of this.legs.values()) ports += u instanceof ThreadedRelay ? 2 : 1;
    return { ...this.last, portsInUse: ports };
  }

  async close(): Promise<void> {
    const w = this.worker;
    if (!w) return;
    // The calls still up are closed by the thread itself (their ports freed, their last
    // figures reported) before it ends; a thread that no longer answers is not waited for.
    const closed = Promise.all([...this.legs.values()].map((leg) => leg.close()));
    await Promise.race([closed, new Promise((r) => setTimeout(r, 2000).unref())]);
    this.worker = null;
    await w.terminate();
  }

  /** Sends a command to the thread (a leg's). */
  send(c: Command): void {
    this.worker?.postMessage(c);
  }

  forget(id: number): void {
    this.legs.delete(id);
    this.keepAlive();
  }

  /** The thread keeps the process alive while it has work (a call's media), not when idle. */
  private keepAlive(): void {
    if (this.opening.size > 0 || this.legs.size > 0) this.worker?.ref();
    else this.worker?.unref();
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const w = moduleWorker(import.meta.url, 'engine-worker');
    w.on('message', (r: Report) => this.receive(r));
    w.on('error', (err) => this.lost(w, err));
    w.on('exit', (code) => this.lost(w, new Error(`The media thread exited (code ${code})`)));
    w.unref();
    this.worker = w;
    return w;
  }

  private lost(w: Worker, err: Error): void {
    if (this.worker !== w) return;
    this.worker = null;
    this.last = IDLE;
    this.onError(err);
    for (const [, o] of this.opening) o.reject(err);
    this.opening.clear();
    for (const leg of [...this.legs.values()]) leg.fail(err.message);
    this.legs.clear();
  }

  private receive(r: Report): void {
    if (r.ev === 'report') {
      this.last = r.status;
      for (const [id, stats] of r.legs) (this.legs.get(id) as ThreadedLeg | undefined)?.report(stats);
      for (const [id, stats] of r.relays) (this.legs.get(id) as ThreadedRelay | undefined)?.report(stats);
      return;
    }
    if (r.ev === 'opened' || r.ev === 'relay-opened' || r.ev === 'open-failed') {
      const o = this.opening.get(r.id);
      this.opening.delete(r.id);
      if (r.ev === 'open-failed') {
        this.keepAlive();
        return o?.reject(r.exhausted ? new MediaPortsExhausted(this.range()) : new Error(r.message));
      }
      const unit = r.ev === 'opened' ? new ThreadedLeg(this, r.id, r.port) : new ThreadedRelay(this, r.id, { a: r.a, b: r.b });
      this.legs.set(r.id, unit);
      if (o) o.resolve(unit);
      else this.send({ op: 'close', id: r.id }); // nobody waits any more
      this.keepAlive();
      return;
    }
    this.legs.get(r.id)?.event(r);
  }
}

class ThreadedRelay implements MediaRelay, Unit {
  readonly address = null;
  private latest: RelayStats = EMPTY_RELAY_STATS;
  private closing: Promise<RelayStats> | null = null;
  private closed: ((s: RelayStats) => void) | null = null;
  onFailure: (reason: string) => void = () => {};

  constructor(
    private readonly engine: MediaThread,
    private readonly id: number,
    readonly ports: { a: number; b: number },
  ) {}

  get stats(): RelayStats {
    return this.latest;
  }

  update(side: RelaySideName, remote: RemoteMedia, allowedSources: string[]): void {
    if (!this.closing) this.engine.send({ op: 'relay-update', id: this.id, side, remote, allowedSources });
  }

  onDigit: (side: RelaySideName, digit: string, ms: number) => void = () => {};

  takeDigits(side: RelaySideName, payloadType: number): boolean {
    if (!this.closing) this.engine.send({ op: 'relay-digits', id: this.id, side, payloadType });
    return true;
  }

  close(): Promise<RelayStats> {
    if (this.closing) return this.closing;
    this.closing = new Promise<RelayStats>((resolve) => (this.closed = resolve));
    this.engine.send({ op: 'close', id: this.id });
    return this.closing;
  }

  report(stats: RelayStats): void {
    this.latest = stats;
  }

  event(r: Report): void {
    if (r.ev === 'failed') this.onFailure(r.message);
    else if (r.ev === 'relay-digit') this.onDigit(r.side, r.digit, r.ms);
    else if (r.ev === 'relay-closed') {
      this.latest = r.stats;
      this.engine.forget(this.id);
      this.closed?.(r.stats);
    }
  }

  fail(reason: string): void {
    if (!this.closing) this.closing = Promise.resolve(this.latest);
    this.closed?.(this.latest);
    this.onFailure(reason);
  }
}

class ThreadedLeg implements MediaLeg, Unit {
  private seq = 0;
  private readonly plays = new Map<number, () => void>();
  private readonly records = new Map<number, { resolve: (r: RecordResult) => void; reject: (e: Error) => void }>();
  private closing: Promise<StreamStats> | null = null;
  private closed: ((s: StreamStats) => void) | null = null;
  private latest: StreamStats = EMPTY_STATS;
  private started = false;
  direction: Direction = 'sendrecv';
  onDigit: (digit: string) => void = () => {};
  onFailure: (reason: string) => void = () => {};

  constructor(
    private readonly engine: MediaThread,
    private readonly id: number,
    readonly port: number,
  ) {}

  get stats(): StreamStats {
    return this.latest;
  }

  start(params: LegParams): void {
    this.started = true;
    this.direction = params.direction;
    this.engine.send({ op: 'start', id: this.id, params });
  }

  update(remote: RemoteMedia, allowedSources: string[], direction: Direction): void {
    this.direction = direction;
    this.engine.send({ op: 'update', id: this.id, remote, allowedSources, direction });
  }

  play(samples: Int16Array): Promise<void> {
    if (this.closing || !this.started) return Promise.resolve();
    const seq = ++this.seq;
    return new Promise<void>((resolve) => {
      this.plays.set(seq, resolve);
      this.engine.send({ op: 'play', id: this.id, seq, samples });
    });
  }

  stopPlaying(): void {
    if (!this.closing) this.engine.send({ op: 'stop-playing', id: this.id });
  }

  sendDigit(digit: string, ms?: number): void {
    if (!this.closing) this.engine.send({ op: 'digit', id: this.id, digit, ms });
  }

  record(path: string, limits: RecordLimits): Promise<RecordResult> {
    if (this.closing) return Promise.resolve({ samples: 0, endedBy: 'hang-up' });
    const seq = ++this.seq;
    return new Promise<RecordResult>((resolve, reject) => {
      this.records.set(seq, { resolve, reject });
      this.engine.send({ op: 'record', id: this.id, seq, path, limits });
    });
  }

  stopRecording(): void {
    if (!this.closing) this.engine.send({ op: 'stop-recording', id: this.id });
  }

  close(): Promise<StreamStats> {
    if (this.closing) return this.closing;
    this.closing = new Promise<StreamStats>((resolve) => (this.closed = resolve));
    this.engine.send({ op: 'close', id: this.id });
    return this.closing;
  }

  report(stats: StreamStats): void {
    this.latest = stats;
  }

  event(r: Report): void {
    switch (r.ev) {
      case 'played':
        this.plays.get(r.seq)?.();
        this.plays.delete(r.seq);
        break;
      case 'digit':
        this.onDigit(r.digit);
        break;
      case 'recorded':
        this.records.get(r.seq)?.resolve(r.result);
        this.records.delete(r.seq);
        break;
      case 'record-failed':
        this.records.get(r.seq)?.reject(new Error(r.message));
        this.records.delete(r.seq);
        break;
      case 'failed':
        this.onFailure(r.message);
        break;
      case 'closed':
        this.latest = r.stats;
        this.settle();
        this.engine.forget(this.id);
        this.closed?.(r.stats);
        break;
    }
  }

  /** The thread is gone: whatever was waiting ends now, and the call must end. */
  fail(reason: string): void {
    this.settle();
    if (!this.closing) this.closing = Promise.resolve(this.latest);
    this.closed?.(this.latest);
    this.onFailure(reason);
  }

  private settle(): void {
    for (const done of this.plays.values()) done();
    this.plays.clear();
    for (const r of this.records.values()) r.resolve({ samples: 0, endedBy: 'hang-up' });
    this.records.clear();
  }
}
