// The primary's side of the HTTP worker processes (api.workers): forks them, shares each
// listening socket with them (the kernel hands each connection to one process), tells
// them of every change (data, config, bans, window state) and knows when all have applied
// it, applies the side effects of the requests they served, and relays digest nonces
// between the process that issued one and the process its answer reached.
import { fork, type ChildProcess } from 'node:child_process';
import type { Server } from 'node:net';
import type { Logger } from 'pino';
import type { FetchNote } from '../provisioning/fetch-outcomes.js';
import type { IssuedNonce } from '../provisioning/http-auth.js';
import { workerIssuer, type SharedListener, type ToPrimary, type ToWorker } from './worker-protocol.js';

export interface HttpWorkerOptions {
  /** The worker's entry script. */
  entry: string;
  count: number;
  /** What a new worker starts from (the running config, the socket to pass other requests to). */
  init: (worker: number) => ToWorker & { t: 'init' };
  /** Applies the side effects of requests a worker served. */
  onNotes: (notes: FetchNote[]) => void;
  /** Hands over a nonce the primary issued. */
  claimLocal: (nonce: string) => IssuedNonce | undefined;
  log: Logger;
}

interface Worker {
  n: number;
  child: ChildProcess;
  ready: boolean;
  /** The last broadcast it applied. */
  acked: number;
}

/** A change every worker must apply before the request that made it is answered. */
type Broadcast = Extract<ToWorker, { seq: number }>;
type Unsequenced<T> = T extends { seq: number } ? Omit<T, 'seq'> : never;

const SETTLE_TIMEOUT_MS = 5000;
// Long enough for a saturated box (a boot storm); an unanswered claim is a stale nonce (the phone retries).
const CLAIM_TIMEOUT_MS = 10_000;

export class HttpWorkers {
  private readonly workers = new Map<number, Worker>();
  private seq = 0;
  private waiters: { seq: number; resolve: () => void }[] = [];
  private rid = 0;
  private readonly claims = new Map<number, (issued: IssuedNonce | null) => void>();
  private readonly shared = new Map<number, { listener: SharedListener; server: Server }>();
  private stopping = false;
  /** Broadcasts waiting for their `after`, in order. */
  private chain: Promise<void> = Promise.resolve();
  private queued = 0;

  constructor(private readonly opts: HttpWorkerOptions) {}

  /** Forks the workers and waits until each has loaded what it serves. */
  async start(): Promise<void> {
    const ready: Promise<void>[] = [];
    for (let n = 1; n <= this.opts.count; n++) ready.push(this.spawn(n));
    await Promise.all(ready);
    this.opts.log.info(`HTTP served by ${this.opts.count} worker process${this.opts.count === 1 ? '' : 'es'} beside this one (api.workers)`);
  }

  /**
   * Sends a change to every worker, once `after` has settled (pending writes landed, so a
   * worker reloading from the database sees them); settled() waits until all have applied
   * it. Changes go out in the order they were made.
   */
  broadcast(msg: Unsequenced<Broadcast>, after?: Promise<unknown>): void {
    const full = { ...msg, seq: ++this.seq } as Broadcast;
    const go = () => {
      for (const w of this.workers.values()) this.send(w, full);
    };
    if (!after && this.queued === 0) return go();
    this.queued++;
    this.chain = this.chain
      .then(() => after)
      .catch((err: Error) => this.opts.log.error({ err }, `Before telling the HTTP workers of a change: ${err.message}`))
      .then(() => {
        this.queued--;
        go();
      });
  }

  /** Settles when every worker has applied every change broadcast so far (or after 5 s, logged). */
  settled(): Promise<void> {
    const seq = this.seq;
    if (this.allAcked(seq)) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.opts.log.warn(`An HTTP worker did not confirm a change within ${SETTLE_TIMEOUT_MS / 1000} s`);
        resolve();
      }, SETTLE_TIMEOUT_MS);
      this.waiters.push({ seq, resolve: () => (clearTimeout(timer), resolve()) });
    });
  }

  /**
   * Settles once what the workers' requests set off so far has been applied here: an admin
   * read waits for it, phones never do.
   */
  caughtUp(): Promise<void> {
    if (this.workers.size === 0) return Promise.resolve();
    this.broadcast({ t: 'flush' });
    return this.settled();
  }

  /** A listener the primary opened (or whose flags changed): its connections are shared with the workers. */
  share(listener: SharedListener, server: Server): void {
    const known = this.shared.get(listener.id);
    this.shared.set(listener.id, { listener, server });
    for (const w of this.workers.values()) {
      if (!w.ready) continue;
      if (known) this.send(w, { t: 'listen', listener });
      else this.send(w, { t: 'listen', listener }, server);
    }
  }

  unshare(id: number): void {
    if (!this.shared.delete(id)) return;
    for (const w of this.workers.values()) if (w.ready) this.send(w, { t: 'unlisten', id });
  }

  /** Takes a nonce from the worker that issued it (null: unknown issuer, already used or no answer). */
  claimFrom(issuer: string, nonce: string): Promise<IssuedNonce | null> {
    const w = [...this.workers.values()].find((x) => workerIssuer(x.n) === issuer);
    if (!w) return Promise.resolve(null);
    const rid = ++this.rid;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.claims.delete(rid);
        resolve(null);
      }, CLAIM_TIMEOUT_MS);
      this.claims.set(rid, (issued) => {
        clearTimeout(timer);
        resolve(issued);
      });
      this.send(w, { t: 'claim', rid, nonce });
    });
  }

  async close(): Promise<void> {
    this.stopping = true;
    const exits = [...this.workers.values()].map(
      (w) =>
        new Promise<void>((resolve) => {
          if (w.child.exitCode !== null || w.child.signalCode !== null) return resolve();
          const timer = setTimeout(() => (w.child.kill('SIGKILL'), resolve()), 5000);
          w.child.once('exit', () => (clearTimeout(timer), resolve()));
          this.send(w, { t: 'stop' });
        }),
    );
    await Promise.all(exits);
    this.workers.clear();
    this.release();
  }

  private spawn(n: number): Promise<void> {
    // Workers log to the same stdout; the primary owns signals (SIGTERM goes to it first).
    const child = fork(this.opts.entry, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], detached: false });
    const w: Worker = { n, child, ready: false, acked: this.seq };
    this.workers.set(n, w);
    this.send(w, this.opts.init(n));
    return new Promise((resolve, reject) => {
      child.on('message', (m: ToPrimary) => {
        if (m.t === 'ready' && !w.ready) {
          w.ready = true;
          for (const { listener, server } of this.shared.values()) this.send(w, { t: 'listen', listener }, server);
          resolve();
          return;
        }
        this.receive(w, m);
      });
      child.once('exit', (code, signal) => {
        if (this.workers.get(n) === w) this.workers.delete(n);
        this.release();
        if (!w.ready) reject(new Error(`HTTP worker ${n} ended before it was ready (${signal ?? `exit code ${code}`})`));
        if (this.stopping) return;
        this.opts.log.error(`HTTP worker ${n} ended (${signal ?? `exit code ${code}`}); starting another`);
        setTimeout(() => void this.spawn(n).catch((err: Error) => this.opts.log.error(err.message)), 1000).unref();
      });
    });
  }

  private receive(w: Worker, m: ToPrimary): void {
    switch (m.t) {
      case 'ack':
        w.acked = Math.max(w.acked, m.seq);
        this.release();
        return;
      case 'notes':
        this.opts.onNotes(m.notes);
        if (m.rid !== undefined) {
          const rid = m.rid;
          // After the changes those notes set off (they are broadcast at the end of this turn).
          setImmediate(() => void this.settled().then(() => this.send(w, { t: 'noted', rid })));
        }
        return;
      case 'claim': {
        const answer = (issued: IssuedNonce | null | undefined) => this.send(w, { t: 'claimed', rid: m.rid, issued: issued ?? null });
        if (m.issuer === 'p') answer(this.opts.claimLocal(m.nonce));
        else void this.claimFrom(m.issuer, m.nonce).then(answer);
        return;
      }
      case 'claimed':
        this.claims.get(m.rid)?.(m.issued);
        this.claims.delete(m.rid);
        return;
      case 'ready':
        return;
    }
  }

  private allAcked(seq: number): boolean {
    for (const w of this.workers.values()) if (w.acked < seq) return false;
    return true;
  }

  /**
   * Resolves the waits every live worker has caught up with (a dead worker holds no one).
   * Waiters are in seq order: the first one still waiting ends the walk.
   */
  private release(): void {
    let done = 0;
    while (done < this.waiters.length && (this.stopping || this.allAcked(this.waiters[done]!.seq))) this.waiters[done++]!.resolve();
    if (done > 0) this.waiters.splice(0, done);
  }

  private send(w: Worker, msg: ToWorker, handle?: Server): void {
    if (!w.child.connected) return;
    w.child.send(msg, handle as Server, (err) => {
      if (err && !this.stopping) this.opts.log.warn(`Message to HTTP worker ${w.n} failed: ${err.message}`);
    });
  }
}
