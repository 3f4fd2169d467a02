// The primary's side of the SIP worker processes (sip.workers): forks them, shares the
// SIP UDP sockets with them (every process reads the same port), keeps the rotation of
// processes REGISTERs are spread over, and keeps every process's view of the location
// service current: a worker's registrations are applied here (written behind, told to
// BLF, MWI and the keep-alives like any other) and passed on to the other workers, and
// this process's changes (its own registrations, expiries) go to all of them. Bans go
// everywhere. See docs/PERFORMANCE.md (SIP workers).
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { Socket as UdpSocket } from 'node:dgram';
import type { Logger } from 'pino';
import type { PbxConfig } from '../../config/schema.js';
import { DatagramRelay, RELAY_TOKEN_BYTES } from '../../sip/datagram-relay.js';
import type { Transports } from '../../sip/transport.js';
import type { FloodGuard } from '../flood-guard.js';
import type { Location } from '../location.js';
import { Steering } from './steering.js';
import type { BindingChange, ToSipPrimary, ToSipWorker, WorkerCounts } from './protocol.js';

export interface SipWorkerOptions {
  entry: string;
  count: number;
  config: () => PbxConfig;
  transports: Transports;
  location: Location;
  guard: FloodGuard;
  /** The edge proxies in front of this node (their REGISTERs are spread by Call-ID). */
  isEdge: (address: string) => boolean;
  /** The digest key every process uses (its own nonces are told apart by the issuer number). */
  nonceKey: Buffer;
  /** Adds what a worker counted into this process's figures. */
  onCounts: (counts: WorkerCounts) => void;
  log: Logger;
}

interface Worker {
  n: number;
  child: ChildProcess;
  relay: number;
  /** The last change it applied. */
  acked: number;
}

type Change = Extract<ToSipWorker, { t: 'config' | 'changed' }>;
type Unsequenced<T> = T extends { seq: number } ? Omit<T, 'seq'> : never;

const SETTLE_TIMEOUT_MS = 5000;
/** Location changes for the workers are gathered this long (an IPC message costs more than a REGISTER's answer). */
const BATCH_MS = 5;

/** Changes going out at the end of this turn, each with the worker it came from (0: here). */
type Outgoing = { from: number; change: BindingChange }[];

export class SipWorkers {
  private readonly token = randomBytes(RELAY_TOKEN_BYTES);
  private readonly relay = new DatagramRelay(this.token);
  private steering: Steering | undefined;
  private relayPort = 0;
  private readonly workers = new Map<number, Worker>();
  private outgoing: Outgoing = [];
  /** The worker whose changes are being applied (its own are not sent back to it). */
  private applying = 0;
  private stopping = false;
  private seq = 0;
  private waiters: { seq: number; resolve: () => void }[] = [];
  /** Changes waiting for their `after`, in order. */
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly o: SipWorkerOptions) {}

  async start(): Promise<void> {
    this.relayPort = await this.relay.bind();
    this.steering = new Steering(this.relay, this.relayPort, this.o.isEdge);
    this.steering.setPeers([this.relayPort]);
    this.relay.onDatagram = (d) => this.o.transports.injectUdp(d.datagram, d.address, d.port, d.localPort);
    this.o.transports.steer = this.steering.steer;
    this.o.location.onChange((event, binding) => this.queue(this.applying, [event, binding]));
    this.o.guard.onBan = (ip, until) => this.sendAll({ t: 'ban', ip, until });
    await Promise.all(Array.from({ length: this.o.count }, (_, i) => this.spawn(i + 1)));
    this.o.log.info(`REGISTERs on the SIP UDP port answered by ${this.o.count + 1} processes (sip.workers: ${this.o.count})`);
  }

  /**
   * Tells the workers of a config change or of extensions changed (they reload them), once
   * `after` has settled; settled() waits for it from now on. Changes go out in order.
   */
  tell(msg: Unsequenced<Change>, after?: Promise<unknown>): void {
    const full = { ...msg, seq: ++this.seq } as Change;
    this.chain = this.chain
      .then(() => after)
      .catch((err: Error) => this.o.log.error({ err }, `Before telling the SIP workers of a change: ${err.message}`))
      .then(() => this.sendAll(full));
  }

  /** Settles when every live worker has applied every change told so far (or after 5 s, logged). */
  settled(): Promise<void> {
    const seq = this.seq;
    if (this.allAcked(seq)) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.o.log.warn(`A SIP worker did not confirm a change within ${SETTLE_TIMEOUT_MS / 1000} s`);
        resolve();
      }, SETTLE_TIMEOUT_MS);
      this.waiters.push({ seq, resolve: () => (clearTimeout(timer), resolve()) });
    });
  }

  private allAcked(seq: number): boolean {
    for (const w of this.workers.values()) if (w.acked < seq) return false;
    return true;
  }

  /** Resolves the waits every live worker has caught up with (a dead worker holds no one). */
  private release(): void {
    let done = 0;
    while (done < this.waiters.length && (this.stopping || this.allAcked(this.waiters[done]!.seq))) this.waiters[done++]!.resolve();
    if (done > 0) this.waiters.splice(0, done);
  }

  /** Datagrams passed to other processes (metrics). */
  get passed(): number {
    return this.steering?.passed ?? 0;
  }

  async close(): Promise<void> {
    this.stopping = true;
    this.o.transports.steer = null;
    await Promise.all(
      [...this.workers.values()].map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.child.exitCode !== null || w.child.signalCode !== null) return resolve();
            const timer = setTimeout(() => (w.child.kill('SIGKILL'), resolve()), 5000);
            w.child.once('exit', () => (clearTimeout(timer), resolve()));
            this.send(w, { t: 'stop' });
          }),
      ),
    );
    this.workers.clear();
    this.release();
    this.relay.close();
  }

  private spawn(n: number): Promise<void> {
    // PBX_SIP_WORKER_NODE_ARGS: node flags for the workers instead of this process's (to
    // profile one: its own --inspect port; an inherited one would be taken already).
    const own = process.env['PBX_SIP_WORKER_NODE_ARGS'];
    const execArgv = own !== undefined ? own.split(' ').filter(Boolean) : process.execArgv.filter((a) => !a.startsWith('--inspect'));
    const child = fork(this.o.entry, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced', execArgv });
    // Starts from the current config and extensions: every change so far counts as applied.
    const w: Worker = { n, child, relay: 0, acked: this.seq };
    this.workers.set(n, w);
    this.send(w, {
      t: 'init',
      worker: n,
      config: this.o.config(),
      token: this.token.toString('base64'),
      nonceKey: this.o.nonceKey.toString('base64'),
      peers: this.peers(),
    });
    return new Promise((resolve, reject) => {
      child.on('message', (m: ToSipPrimary) => {
        if (m.t === 'loaded') {
          // A received socket is read at once: sent only when the worker can handle what it reads.
          const sockets = this.o.transports.udpSockets;
          sockets.forEach(({ socket, host }, i) => this.send(w, { t: 'socket', host, last: i === sockets.length - 1 }, socket));
          return;
        }
        if (m.t === 'ready') {
          w.relay = m.relay;
          this.rotate();
          resolve();
          return;
        }
        this.receive(w, m);
      });
      child.once('exit', (code, signal) => {
        if (this.workers.get(n) === w) this.workers.delete(n);
        this.rotate();
        this.release();
        if (w.relay === 0) reject(new Error(`SIP worker ${n} ended before it was ready (${signal ?? `exit code ${code}`})`));
        if (this.stopping) return;
        this.o.log.error(`SIP worker ${n} ended (${signal ?? `exit code ${code}`}); its share of REGISTERs goes to the others, starting another`);
        setTimeout(
          () =>
            void this.spawn(n).then(
              () => this.o.log.info(`SIP worker ${n} is back: REGISTERs spread over ${this.peers().length} processes again`),
              (err: Error) => this.o.log.error(err.message),
            ),
          1000,
        ).unref();
      });
    });
  }

  /** The processes in rotation: this one first, then each ready worker. */
  private peers(): number[] {
    return [this.relayPort, ...[...this.workers.values()].filter((w) => w.relay > 0).map((w) => w.relay)];
  }

  private rotate(): void {
    const peers = this.peers();
    this.steering?.setPeers(peers);
    this.sendAll({ t: 'peers', peers });
  }

  private receive(w: Worker, m: ToSipPrimary): void {
    switch (m.t) {
      case 'bindings':
        this.applying = w.n;
        try {
          for (const [event, binding] of m.changes) this.o.location.apply(event, binding);
        } finally {
          this.applying = 0;
        }
        this.send(w, { t: 'applied', batch: m.batch });
        return;
      case 'counts':
        this.o.onCounts(m.counts);
        return;
      case 'auth-failure':
        this.o.guard.authFailure(m.ip, m.username ?? undefined, m.reliable);
        return;
      case 'ack':
        w.acked = Math.max(w.acked, m.seq);
        this.release();
        return;
      case 'ban':
        this.o.guard.applyBan(m.ip, m.until);
        for (const other of this.workers.values()) if (other !== w) this.send(other, { t: 'ban', ip: m.ip, until: m.until });
        return;
      case 'ready':
      case 'loaded':
        return;
    }
  }

  /** Location changes go out every BATCH_MS, to every worker but the one they came from. */
  private queue(from: number, change: BindingChange): void {
    if (this.workers.size === 0) return;
    if (this.outgoing.length === 0) setTimeout(() => this.flush(), BATCH_MS);
    this.outgoing.push({ from, change });
  }

  private flush(): void {
    const out = this.outgoing;
    this.outgoing = [];
    for (const w of this.workers.values()) {
      const changes = out.filter((c) => c.from !== w.n).map((c) => c.change);
      if (changes.length) this.send(w, { t: 'bindings', changes });
    }
  }

  private sendAll(msg: ToSipWorker): void {
    for (const w of this.workers.values()) this.send(w, msg);
  }

  private send(w: Worker, msg: ToSipWorker, handle?: UdpSocket): void {
    if (!w.child.connected) return;
    w.child.send(msg, handle, (err) => {
      if (err && !this.stopping) this.o.log.warn(`Message to SIP worker ${w.n} failed: ${err.message}`);
    });
  }
}
