// The pbx as a user agent: answers the calls the proxy routes to a service (voicemail,
// later the attendant, conference, park) with SDP from the media layer, and keeps each
// such call's dialog (RFC 3261 §12–§15): 2xx retransmitted until the ACK, re-INVITE
// (hold), BYE from either side, CANCEL before the answer, OPTIONS/INFO inside the dialog.
// The media ends with the dialog. The service itself is a function given a session.
import type { Logger } from 'pino';
import { makeResponse, type SipRequest, type SipResponse } from '../sip/message.js';
import { Dialog } from '../sip/dialog.js';
import { addressUri, inDialogRequest, type SentBy } from '../sip/requests.js';
import { newTag } from '../sip/ids.js';
import type { SipStack } from '../sip/stack.js';
import type { Flow } from '../sip/transport.js';
import type { ServerTransaction } from '../sip/transactions/server.js';
import type { LegParams, MediaEngine, MediaLeg, RecordLimits, RecordResult } from '../media/engine.js';
import { MediaPortsExhausted } from '../media/ports.js';
import { answer as sdpAnswer, answerDirection, negotiate, offer as sdpOffer, parseRemoteAudio, SdpError, type Negotiated } from '../media/sdp.js';
import type { StreamStats } from '../media/stats.js';
import { mediaSources, remoteMedia } from './media-peer.js';

/** Who called what, as the service sees it. */
export interface ServiceCall {
  callId: string;
  caller: string;
  callerName: string | null;
  /** The number dialled (an extension whose call was diverted, or a feature code). */
  dialled: string;
  /** Source address of the caller's signalling (for security decisions: bans, logs). */
  sourceAddress: string;
}

/** What a service does with a call it answered. */
export interface ServiceSession {
  readonly call: ServiceCall;
  /** Plays 8 kHz samples from the next 20 ms tick; resolves when they have ended, were replaced, or the call ended. */
  play(samples: Int16Array): Promise<void>;
  stopPlaying(): void;
  /**
   * Records the caller into a WAV file at `path` until hang-up, a limit, or a stop key;
   * the file is complete (sizes written, on disk) when this resolves.
   */
  record(path: string, limits: RecordLimits): Promise<RecordResult>;
  /** Key presses (RFC 4733), once each. */
  onDigit(listener: ((digit: string) => void) | null): void;
  /** Hangs up (BYE); the session ends. */
  hangup(): void;
  readonly ended: Promise<'caller' | 'service'>;
  readonly isEnded: boolean;
  /** RTP figures (final once `ended` has resolved). */
  readonly stats: StreamStats;
}

export type ServiceApp = (session: ServiceSession) => Promise<void>;

export interface AgentOptions {
  /** Our address on a transport (Contact of our answers). */
  advertise: (transport: string) => SentBy;
  /** The address written in our SDP toward a caller at `peer` (the LAN's toward a phone on one, else server.external_ip). */
  mediaAddress: (peer: string) => Promise<string>;
  /** RFC 3261 timers T1/T2 for 2xx retransmission (ms). */
  t1: number;
  t2: number;
  /** No RTP from the caller for this long: hang up (0: never). */
  mediaTimeoutSeconds: number;
}

interface AgentCall {
  /** Our address in this call's SDP. */
  address: string;
  dialog: Dialog;
  invite: SipRequest;
  flow: Flow;
  leg: MediaLeg;
  /** False until the answer of a late offer arrives in the ACK. */
  started: boolean;
  /** The RTP figures once the media has closed. */
  finalStats: StreamStats | null;
  negotiated: Negotiated | null;
  /** Runs the service once media can flow. */
  run: () => void;
  ok: SipResponse;
  acked: boolean;
  retransmit: NodeJS.Timeout | undefined;
  sessionVersion: number;
  sessionId: number;
  ended: boolean;
  /** RTP packets received at the last media check, and when that count last moved. */
  lastReceived: number;
  lastReceivedAt: number;
  end: (by: 'caller' | 'service') => void;
  log: Logger;
}

/** An INVITE being answered (ports are bound asynchronously): a CANCEL may still stop it. */
interface Pending {
  server: ServerTransaction;
  cancelled: boolean;
}

export class ServiceAgent {
  private readonly calls = new Map<string, AgentCall>();
  private readonly pending = new Map<string, Pending>();
  private watchdog: NodeJS.Timeout | undefined;
  readonly counters = { answered: 0, refused: 0, cancelled: 0 };
  /** RTP of ended service calls, summed (per-call figures are in each call's log line). */
  readonly mediaTotals = { packetsSent: 0, packetsReceived: 0, packetsLost: 0, packetsIgnored: 0 };

  constructor(
    private readonly stack: SipStack,
    private readonly media: MediaEngine,
    private readonly opts: () => AgentOptions,
    private readonly log: Logger,
  ) {}

  get active(): number {
    return this.calls.size;
  }

  /**
   * Answers an initial INVITE for a service. Bad or unusable SDP gets 400/488, no free
   * media port 503; nothing is kept then. The app runs once the call is answered; when it
   * returns, the pbx hangs up (unless the caller already did).
   */
  answer(req: SipRequest, server: ServerTransaction, flow: Flow, call: ServiceCall, app: ServiceApp, refused: (status: number) => void = () => {}): void {
    // No body: a late offer (RFC 3261 §13.2.1): our offer goes in the 200, the answer comes in the ACK.
    let negotiated: Negotiated | null = null;
    try {
      if (req.body.length > 0) negotiated = negotiate(parseRemoteAudio(req.body.toString('utf8')));
    } catch (err) {
      const e = err instanceof SdpError ? err : new SdpError(400, (err as Error).message);
      this.counters.refused++;
      this.log.warn({ call_id: req.callId, caller: call.caller, dialled: call.dialled, status: e.status }, `Service call refused: ${e.message}`);
      server.respond(makeResponse(req, e.status, e.status === 488 ? 'Not Acceptable Here' : 'Bad Request: malformed SDP'));
      refused(e.status);
      return;
    }
    const pending: Pending = { server, cancelled: false };
    this.pending.set(server.key, pending);
    void Promise.all([this.media.open(), this.opts().mediaAddress(flow.remoteAddress)]).then(
      ([leg, address]) => {
        this.pending.delete(server.key);
        if (pending.cancelled) {
          void leg.close();
          refused(487);
          return;
        }
        this.start(req, server, flow, call, app, negotiated, leg, address);
      },
      (err: unknown) => {
        this.pending.delete(server.key);
        if (pending.cancelled) return void refused(487);
        this.counters.refused++;
        const exhausted = err instanceof MediaPortsExhausted;
        this.log.error({ call_id: req.callId, err }, exhausted ? (err as Error).message : 'Media ports could not be opened');
        server.respond(makeResponse(req, 503, 'Service Unavailable: no media port'));
        refused(503);
      },
    );
  }

  /** CANCEL of an INVITE this agent has not answered yet: 487 to the INVITE. False when it is not ours. */
  cancel(req: SipRequest, server: ServerTransaction): boolean {
    const invite = this.stack.inviteFor(req);
    const p = invite ? this.pending.get(invite.key) : undefined;
    if (!invite || !p) return false;
    server.respond(makeResponse(req, 200));
    p.cancelled = true;
    this.counters.cancelled++;
    invite.respond(makeResponse(invite.request, 487));
    return true;
  }

  /** A request inside one of this agent's dialogs (or an ACK for its 2xx). False when not ours. */
  inDialog(req: SipRequest, server: ServerTransaction | null, flow: Flow): boolean {
    const c = this.calls.get(keyOf(req.callId, req.to.params.get('tag') ?? ''));
    if (!c) return false;
    if (req.method === 'ACK') {
      const first = !c.acked;
      if (req.cseq.seq === c.invite.cseq.seq || first) this.acked(c);
      if (first && !c.started && !c.ended) this.lateAnswer(c, req);
      return true;
    }
    if (!server) return true;
    if (c.ended) {
      server.respond(makeResponse(req, 481));
      return true;
    }
    const seq = c.dialog.receiveRequest(req);
    if (!seq.ok) {
      server.respond(makeResponse(req, 500, 'Server Internal Error: CSeq out of order'));
      return true;
    }
    c.flow = flow;
    switch (req.method) {
      case 'BYE':
        server.respond(makeResponse(req, 200));
        c.end('caller');
        return true;
      case 'INVITE':
        this.reinvite(c, req, server);
        return true;
      case 'OPTIONS':
      case 'INFO':
      case 'UPDATE':
        server.respond(makeResponse(req, 200));
        return true;
      default:
        server.respond(makeResponse(req, 405, undefined, undefined, [{ name: 'allow', value: 'INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE' }]));
        return true;
    }
  }

  /** One timer for every call: a caller that sends no RTP for media.timeout_seconds is gone. */
  private watch(): void {
    if (this.watchdog) return;
    this.watchdog = setInterval(() => {
      const limit = this.opts().mediaTimeoutSeconds * 1000;
      const now = Date.now();
      for (const c of [...this.calls.values()]) {
        const received = c.leg.stats.packetsReceived;
        const listening = !c.started || c.leg.direction === 'sendrecv' || c.leg.direction === 'recvonly';
        if (received !== c.lastReceived || !listening) {
          c.lastReceived = received;
          c.lastReceivedAt = now;
        } else if (limit > 0 && now - c.lastReceivedAt >= limit) {
          c.log.warn({ seconds: Math.round((now - c.lastReceivedAt) / 1000), packets_received: received }, 'No RTP from the caller: hanging up (media.timeout_seconds)');
          c.end('service');
        }
      }
      if (this.calls.size === 0) {
        clearInterval(this.watchdog);
        this.watchdog = undefined;
      }
    }, 1000);
    this.watchdog.unref();
  }

  /** Ends every call (shutdown): BYE to each caller. */
  close(): void {
    clearInterval(this.watchdog);
    for (const c of [...this.calls.values()]) c.end('service');
  }

  private start(req: SipRequest, server: ServerTransaction, flow: Flow, call: ServiceCall, app: ServiceApp, n: Negotiated | null, leg: MediaLeg, address: string): void {
    const o = this.opts();
    const tag = newTag();
    const dialog = Dialog.uas(req, tag);
    const log = this.log.child({ call_id: req.callId, caller: call.caller, dialled: call.dialled });
    const sessionId = Math.floor(Math.random() * 1e9);
    const local = { sessionId, sessionVersion: 1, address, port: leg.port };
    const sentBy = o.advertise(flow.transport);
    const ok = makeResponse(req, 200, 'OK', tag, [
      { name: 'contact', value: `<${addressUri(sentBy, call.dialled.replace(/[^0-9A-Za-z*#+._-]/g, '') || 'service')}>` },
      { name: 'allow', value: 'INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE' },
      { name: 'content-type', value: 'application/sdp' },
    ]);
    ok.body = Buffer.from(n ? sdpAnswer(local, n) : sdpOffer(local));
    let resolveEnded!: (by: 'caller' | 'service') => void;
    const ended = new Promise<'caller' | 'service'>((r) => (resolveEnded = r));
    const c: AgentCall = {
      address,
      dialog,
      invite: req,
      flow,
      leg,
      started: false,
      finalStats: null,
      negotiated: n,
      ok,
      acked: false,
      retransmit: undefined,
      sessionId,
      sessionVersion: 1,
      ended: false,
      lastReceived: 0,
      lastReceivedAt: Date.now(),
      log,
      run: () => {
        const session: ServiceSession = {
          call,
          play: (samples) => (c.ended ? Promise.resolve() : Promise.race([leg.play(samples), ended.then(() => undefined)])),
          stopPlaying: () => leg.stopPlaying(),
          record: (path, limits) => leg.record(path, limits),
          onDigit: (l) => (leg.onDigit = l ?? (() => {})),
          hangup: () => c.end('service'),
          ended,
          get isEnded() {
            return c.ended;
          },
          get stats() {
            return c.finalStats ?? leg.stats;
          },
        };
        void app(session)
          .catch((err: unknown) => log.error({ err }, `Service failed on the call from ${call.caller} to ${call.dialled}`))
          .finally(() => c.end('service'));
      },
      end: (by) => {
        if (c.ended) return;
        c.ended = true;
        clearTimeout(c.retransmit);
        this.calls.delete(keyOf(req.callId, tag));
        if (by === 'service' && !dialog.terminated) this.sendBye(c);
        dialog.terminate();
        void leg.close().then((st) => {
          c.finalStats = st;
          const t = this.mediaTotals;
          t.packetsSent += st.packetsSent;
          t.packetsReceived += st.packetsReceived;
          t.packetsLost += Math.max(0, st.packetsLost);
          t.packetsIgnored += st.packetsIgnored;
          log.info({ by, ...st }, `Service call from ${call.caller} to ${call.dialled} ended by the ${by}`);
          resolveEnded(by);
        });
      },
    };
    this.calls.set(keyOf(req.callId, tag), c);
    this.watch();
    server.respond(ok);
    this.counters.answered++;
    this.scheduleRetransmit(c, o.t1);
    leg.onFailure = (reason) => {
      log.error(`Media failed (${reason}): hanging up`);
      c.end('service');
    };
    log.info({ codec: n?.codec.name ?? 'offered', rtp_port: leg.port, late_offer: !n }, `Service answered the call from ${call.caller} to ${call.dialled}`);
    if (n) {
      this.startMedia(c, n);
      c.run();
    }
  }

  private startMedia(c: AgentCall, n: Negotiated): void {
    c.leg.start(paramsOf(n, c.flow));
    c.started = true;
  }

  /** The ACK of a late offer carries the answer (§13.2.1); without a usable one the call cannot go on. */
  private lateAnswer(c: AgentCall, ack: SipRequest): void {
    try {
      if (ack.body.length === 0) throw new SdpError(488, 'the ACK carries no answer to our offer');
      const n = negotiate(parseRemoteAudio(ack.body.toString('utf8')));
      c.negotiated = n;
      this.startMedia(c, n);
      c.log.info({ codec: n.codec.name }, 'Late offer answered in the ACK');
      c.run();
    } catch (err) {
      c.log.warn(`Service call ended: ${(err as Error).message}`);
      c.end('service');
    }
  }

  /** §13.3.1.4: the UAS core retransmits the 2xx, T1 doubling up to T2, until the ACK; after 64·T1 it gives up and hangs up. */
  private scheduleRetransmit(c: AgentCall, interval: number, elapsed = 0): void {
    const { t1, t2 } = this.opts();
    if (elapsed >= 64 * t1) {
      c.log.warn('No ACK for the 2xx: hanging up');
      c.end('service');
      return;
    }
    c.retransmit = setTimeout(() => {
      if (c.acked || c.ended) return;
      this.stack.sendStateless(c.ok, c.flow);
      this.scheduleRetransmit(c, Math.min(interval * 2, t2), elapsed + interval);
    }, interval);
    c.retransmit.unref();
  }

  private acked(c: AgentCall): void {
    c.acked = true;
    clearTimeout(c.retransmit);
  }

  /** Hold and resume (a=sendonly / inactive / sendrecv) or a new address: answered with our side of it. */
  private reinvite(c: AgentCall, req: SipRequest, server: ServerTransaction): void {
    let n: Negotiated | null;
    try {
      n = req.body.length ? negotiate(parseRemoteAudio(req.body.toString('utf8'))) : c.negotiated;
    } catch (err) {
      const status = err instanceof SdpError ? err.status : 400;
      server.respond(makeResponse(req, status, status === 488 ? 'Not Acceptable Here' : 'Bad Request: malformed SDP'));
      return;
    }
    if (!n || !c.started) {
      server.respond(makeResponse(req, 491, 'Request Pending'));
      return;
    }
    const direction = answerDirection(n.remote.direction);
    c.leg.update(remoteMedia(n.remote), mediaSources(n.remote, c.flow), direction);
    c.negotiated = n;
    c.sessionVersion++;
    const ok = makeResponse(req, 200, 'OK', undefined, [
      c.ok.getAll('contact').length ? { name: 'contact', value: c.ok.get('contact')! } : { name: 'contact', value: `<${addressUri(this.opts().advertise(c.flow.transport))}>` },
      { name: 'content-type', value: 'application/sdp' },
    ]);
    ok.body = Buffer.from(sdpAnswer({ sessionId: c.sessionId, sessionVersion: c.sessionVersion, address: c.address, port: c.leg.port }, n));
    server.respond(ok);
    c.ok = ok;
    c.invite = req;
    c.acked = false;
    this.scheduleRetransmit(c, this.opts().t1);
    c.log.info({ direction }, `Service call re-INVITE: media now ${direction}`);
  }

  private sendBye(c: AgentCall): void {
    const sentBy = this.opts().advertise(c.flow.transport);
    const bye = inDialogRequest(c.dialog, 'BYE', { via: sentBy });
    this.stack.sendRequest(bye, c.flow, {
      response: () => {},
      timeout: () => {},
      transportError: () => {},
    });
  }
}

/** The stream the media layer runs for a negotiated offer/answer. */
function paramsOf(n: Negotiated, flow: Flow): LegParams {
  return {
    codec: n.codec.name,
    payloadType: n.payloadType,
    telephoneEvent: n.telephoneEvent,
    remote: remoteMedia(n.remote),
    allowedSources: mediaSources(n.remote, flow),
    direction: answerDirection(n.remote.direction),
    rtcpMux: n.remote.rtcpMux,
  };
}

function keyOf(callId: string, localTag: string): string {
  return `${callId}\u0000${localTag}`;
}
