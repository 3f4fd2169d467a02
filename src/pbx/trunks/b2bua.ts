// Calls through a trunk are bridged, not proxied (a B2BUA): the phone's INVITE ends here
// (leg A), and the pbx places a call of its own to the provider (leg B) with a new
// Call-ID, its own Via, Contact and From host, and its own SDP: the provider never sees
// an internal address, header or tag. The media is anchored in a relay (media/relay.ts)
// between the two. The provider's 401/407 is answered with the trunk's credentials;
// 180/183 (with early media) reach the phone; a final failure goes to the next target
// or trunk when it says the provider is at fault (408, 5xx), else to the phone; BYE
// from either side ends both; CANCEL from the phone cancels the provider's leg.
// Inbound, the roles turn: the provider's INVITE is leg A, and leg B rings every phone
// registered for the extension at once (the first to answer takes the call, the others
// are cancelled); nobody answers within the ring time, or every phone is busy, and the
// call goes where the caller of `inbound` says (voicemail), else 480/486 to the provider.
import type { Logger } from 'pino';
import { authenticatedRequest, challengeHeaders } from '../../sip/digest-client.js';
import { Dialog } from '../../sip/dialog.js';
import { newCallId, newTag } from '../../sip/ids.js';
import { formatHost } from '../../sip/uri.js';
import { makeResponse, type Header, type SipRequest, type SipResponse } from '../../sip/message.js';
import { ackFor2xx, addressUri, cancelFor, inDialogRequest, outOfDialogRequest, type SentBy } from '../../sip/requests.js';
import type { SipStack } from '../../sip/stack.js';
import type { ClientTransaction } from '../../sip/transactions/client.js';
import type { ServerTransaction } from '../../sip/transactions/server.js';
import type { Flow } from '../../sip/transport.js';
import type { MediaRelay, RelayFactory } from '../../media/engine.js';
import { parseRemoteAudio, relayedAudio, SdpError, type RemoteAudio } from '../../media/sdp.js';
import type { Call, Calls } from '../calls.js';
import { mediaSources, remoteMedia } from '../media-peer.js';
import type { Trunk } from './store.js';
import { flowToTarget, providerFault, targetName, trunkDomain, type Target } from './targets.js';

const ALLOW = 'INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, INFO';

export interface BridgeOptions {
  advertise: (transport: string) => SentBy;
  /** Our address in SDP toward providers (server.external_ip). */
  mediaAddress: string;
  t1: number;
  t2: number;
  userAgent: string;
  /** RTP one way only for this long: the call is flagged (one-way audio). */
  oneWaySeconds: number;
  /** Nothing at all from a provider for this long after our INVITE: it is down (next target). */
  trunkTimeoutSeconds: number;
}

export interface BridgeDeps {
  /** Our address in SDP toward a phone at this address (its LAN's when it is on one, else server.external_ip). */
  addressToward: (phone: string) => Promise<string>;
  stack: SipStack;
  /** Opens the relay a call's media is anchored in (the built-in engine, or rtpengine). */
  relays: () => RelayFactory;
  calls: Calls;
  targets: (trunk: Trunk) => Promise<Target[]>;
  opts: () => BridgeOptions;
  log: Logger;
}

/** What the phone asked for, as the outbound policy decided to send it. */
export interface OutboundCall {
  caller: string;
  callerName: string | null;
  /** The number to send to the provider (after the route's strip/prepend). */
  number: string;
  /** The caller number the provider sees. */
  callerId: string;
  /** Trunks to try in turn. */
  trunks: Trunk[];
}

/** A call from a provider to an extension, as the inbound routes decided. */
export interface InboundCall {
  trunk: Trunk;
  /** The call record (started by the inbound routing, which also handles other destinations). */
  call: Call;
  /** Who calls, as the phones will show it. */
  caller: string;
  callerName: string | null;
  extension: string;
  /** Where the extension's phones are reached: each registered contact and its flow. */
  contacts: { contact: string; flow: Flow; path: string[] }[];
  ringSeconds: number;
  /**
   * Nobody answered (unavailable, no_answer, busy): true when the provider's INVITE was
   * answered another way (voicemail), which takes the call record from then on.
   */
  unreached: (reason: 'unavailable' | 'no_answer' | 'busy') => boolean;
}

interface Bridge {
  direction: 'outbound' | 'inbound';
  call: Call;
  log: Logger;
  /** The leg that called (the phone outbound, the provider inbound): we answer it. */
  a: { req: SipRequest; server: ServerTransaction; flow: Flow; tag: string; dialog: Dialog | null; ok: SipResponse | null; acked: boolean; retransmit?: NodeJS.Timeout; remote: RemoteAudio };
  /** The leg we place (to the provider outbound, to the extension's phones inbound). */
  b: { trunk: Trunk | null; flow: Flow | null; invite: SipRequest | null; tx: ClientTransaction | null; dialog: Dialog | null; remote: RemoteAudio | null };
  /** Cancels leg B's pending INVITE(s). */
  cancelB: (() => void) | null;
  /** The call was handed to another taker (voicemail): its record is not ours to end. */
  handedOver: boolean;
  /** A new offer from one side is waiting for the other side's answer. */
  offering: boolean;
  /** Our next session refresh (RFC 4028) on each leg where we are the refresher. */
  refresh: { a?: NodeJS.Timeout; b?: NodeJS.Timeout };
  /** The last SDP each side sent (the same again is a session refresh, not a new offer). */
  bodies: { a: string; b: string };
  /** Our address in the SDP toward each side: server.external_ip toward the provider, the LAN's toward a phone on one. */
  addr: { a: string; b: string };
  /** The session version of our SDP toward each side (RFC 4566 o=: it grows with each change). */
  versions: { a: number; b: number };
  relay: MediaRelay;
  sessionId: number;
  answered: boolean;
  answeredAt: number;
  /** The side found sending no RTP while the other did (one-way audio), once. */
  oneWay: 'caller' | 'callee' | null;
  cancelled: boolean;
  ended: boolean;
  /** Key presses waiting to go to the provider as SIP INFO (dtmf_mode: info), one transaction at a time. */
  infos: { queue: { digit: string; ms: number }[]; sending: boolean };
}

export class TrunkBridge {
  private readonly byKey = new Map<string, Bridge>();
  private readonly pending = new Map<string, Bridge>();
  private watchdog: NodeJS.Timeout | undefined;
  /** Every call from its start to its end (ringing or answered). */
  private readonly live = new Set<Bridge>();
  readonly counters = { started: 0, answered: 0, failed: 0, cancelled: 0, oneWay: 0 };

  constructor(private readonly d: BridgeDeps) {}

  get active(): number {
    return this.live.size;
  }

  /** Calls in progress (ringing or answered) from this extension. */
  callsFrom(caller: string): number {
    let n = 0;
    for (const b of this.live) if (b.call.caller === caller) n++;
    return n;
  }

  /** Calls in progress on this trunk. */
  callsOn(trunk: string): number {
    let n = 0;
    for (const b of this.live) if (b.b.trunk?.name === trunk) n++;
    return n;
  }

  /** Takes the phone's INVITE (already answered 100) and places the call out through `o.trunks`. */
  async start(req: SipRequest, server: ServerTransaction, flow: Flow, o: OutboundCall): Promise<void> {
    const call = this.d.calls.start(req.callId, req.from.params.get('tag') ?? '', o.caller, o.number, { direction: 'outbound' });
    const log = this.d.log.child({ call_id: req.callId, caller: o.caller, number: o.number });
    const bridge = await this.open('outbound', req, server, flow, call, log);
    if (!bridge) return;
    let last: { status: number; reason: string } = { status: 503, reason: 'Service Unavailable' };
    for (const trunk of o.trunks) {
      let targets: Target[];
      try {
        targets = await this.d.targets(trunk);
      } catch (err) {
        log.warn(`Trunk ${trunk.name}: ${(err as Error).message}`);
        continue;
      }
      for (const target of targets) {
        if (bridge.cancelled || bridge.ended) return;
        const outcome = await this.attempt(bridge, trunk, target, o);
        if (outcome === 'answered' || bridge.cancelled || bridge.ended) return;
        last = outcome;
        log.info({ trunk: trunk.name, target: targetName(target), status: outcome.status }, `Call to ${o.number} via trunk ${trunk.name}: ${outcome.status} ${outcome.reason}`);
        if (!providerFault(outcome.status)) return this.fail(bridge, outcome);
      }
    }
    this.fail(bridge, last);
  }

  /**
   * Takes a provider's INVITE (already answered 100) for an extension and rings its
   * phones. The call record is the caller's (`o.call`) and is ended here unless the call
   * is handed over through `o.unreached`.
   */
  async inbound(req: SipRequest, server: ServerTransaction, flow: Flow, o: InboundCall): Promise<void> {
    const log = this.d.log.child({ call_id: req.callId, caller: o.caller, extension: o.extension, trunk: o.trunk.name });
    const bridge = await this.open('inbound', req, server, flow, o.call, log);
    if (!bridge) return;
    bridge.b.trunk = o.trunk;
    const unreached = (reason: 'unavailable' | 'no_answer' | 'busy', status: number, why: string) => {
      if (bridge.ended || bridge.cancelled) return;
      bridge.cancelB?.();
      if (o.unreached(reason)) {
        bridge.handedOver = true;
        this.finish(bridge, 'failed', status, null);
        return;
      }
      this.fail(bridge, { status, reason: why });
    };
    if (o.contacts.length === 0) return unreached('unavailable', 480, 'Temporarily Unavailable');
    const opts = this.d.opts();
    let sdp: string;
    try {
      bridge.addr.b = await this.d.addressToward(o.contacts[0]!.flow.remoteAddress);
      sdp = relayedAudio(bridge.a.remote, { sessionId: bridge.sessionId, sessionVersion: 1, address: bridge.relay.address ?? bridge.addr.b, port: bridge.relay.ports.b }, () => true, false);
    } catch (err) {
      return this.fail(bridge, { status: (err as SdpError).status ?? 488, reason: 'Not Acceptable Here' });
    }
    // One request forked to every phone: one Call-ID and From tag, a branch each (§16.6).
    const callId = newCallId(opts.advertise('udp').host);
    const fromTag = newTag();
    const branches = o.contacts.map((c) => {
      const sentBy = opts.advertise(c.flow.transport);
      const invite = outOfDialogRequest({
        method: 'INVITE',
        uri: c.contact,
        from: `sip:${o.caller}@${formatHost(sentBy.host)}`,
        fromTag,
        fromDisplay: o.callerName ?? undefined,
        to: `sip:${o.extension}@${formatHost(sentBy.host)}`,
        via: sentBy,
        callId,
        contact: addressUri(sentBy, 'trunk'),
        route: c.path,
        headers: [
          { name: 'max-forwards', value: '70' },
          { name: 'allow', value: ALLOW },
          { name: 'user-agent', value: opts.userAgent },
          { name: 'content-type', value: 'application/sdp' },
        ],
        body: sdp,
      });
      return { invite, flow: c.flow, sentBy, final: 0 };
    });
    const timer = setTimeout(() => unreached('no_answer', 480, 'No Answer'), o.ringSeconds * 1000);
    timer.unref();
    bridge.cancelB = () => {
      clearTimeout(timer);
      for (const br of branches) {
        if (br.final === 0) this.d.stack.sendRequest(cancelFor(br.invite), br.flow, { response: () => {}, timeout: () => {}, transportError: () => {} });
      }
    };
    const settle = () => {
      if (branches.some((br) => br.final === 0)) return;
      clearTimeout(timer);
      if (branches.some((br) => br.final === 486 || br.final === 600)) unreached('busy', 486, 'Busy Here');
      else unreached('unavailable', 480, 'Temporarily Unavailable');
    };
    log.info({ contacts: branches.length }, `Call from ${o.caller} via trunk ${o.trunk.name}: ringing ${o.extension} (${branches.length} phone${branches.length === 1 ? '' : 's'})`);
    for (const br of branches) {
      this.d.stack.sendRequest(br.invite, br.flow, {
        response: (res) => {
          if (res.status < 200) {
            if (!bridge.answered && !bridge.ended) this.provisional(bridge, res, br.flow);
            return;
          }
          br.final = res.status;
          if (res.status >= 300) return settle();
          if (bridge.answered || bridge.ended || bridge.cancelled) {
            // Another phone was first (or the caller gave up): this one is hung up at once.
            const dialog = Dialog.uac(br.invite, res);
            this.d.stack.sendStateless(ackFor2xx(dialog, br.invite, { via: br.sentBy }), br.flow);
            this.d.stack.sendRequest(inDialogRequest(dialog, 'BYE', { via: br.sentBy }), br.flow, { response: () => {}, timeout: () => {}, transportError: () => {} });
            return;
          }
          clearTimeout(timer);
          bridge.b.flow = br.flow;
          bridge.b.invite = br.invite;
          this.answered(bridge, br.invite, res, br.flow, br.sentBy);
          for (const other of branches) {
            if (other !== br && other.final === 0) this.d.stack.sendRequest(cancelFor(other.invite), other.flow, { response: () => {}, timeout: () => {}, transportError: () => {} });
          }
        },
        timeout: () => {
          br.final = 408;
          settle();
        },
        transportError: () => {
          br.final = 503;
          settle();
        },
      });
    }
  }

  /** Leg A's offer taken and a relay opened: the bridge, or null when leg A was answered with an error. */
  private async open(direction: Bridge['direction'], req: SipRequest, server: ServerTransaction, flow: Flow, call: Call, log: Logger): Promise<Bridge | null> {
    let remote: RemoteAudio;
    try {
      if (req.body.length === 0) throw new SdpError(488, 'an INVITE without SDP (late offer) is not bridged yet');
      remote = parseRemoteAudio(req.body.toString('utf8'));
    } catch (err) {
      const status = err instanceof SdpError ? err.status : 400;
      server.respond(makeResponse(req, status, status === 488 ? 'Not Acceptable Here' : 'Bad Request: malformed SDP'));
      this.d.calls.end(call, 'failed', status, null);
      return null;
    }
    let relay: MediaRelay;
    try {
      relay = await this.d.relays().openRelay();
    } catch (err) {
      log.error({ err }, `No media relay for the call from ${call.caller} to ${call.callee}: ${(err as Error).message}`);
      server.respond(makeResponse(req, 503, 'Service Unavailable: no media relay'));
      this.d.calls.end(call, 'failed', 503, null);
      return null;
    }
    relay.update('a', remoteMedia(remote), mediaSources(remote, flow));
    const bridge: Bridge = {
      direction,
      call,
      log,
      a: { req, server, flow, tag: newTag(), dialog: null, ok: null, acked: false, remote },
      b: { trunk: null, flow: null, invite: null, tx: null, dialog: null, remote: null },
      cancelB: null,
      handedOver: false,
      offering: false,
      versions: { a: 2, b: 1 },
      bodies: { a: req.body.toString('utf8'), b: '' },
      refresh: {},
      // Outbound, leg A is the phone; inbound, the provider (leg B is the other one).
      addr: direction === 'outbound' ? { a: await this.d.addressToward(flow.remoteAddress), b: this.d.opts().mediaAddress } : { a: this.d.opts().mediaAddress, b: this.d.opts().mediaAddress },
      relay,
      sessionId: Math.floor(Math.random() * 1e9),
      answered: false,
      answeredAt: 0,
      oneWay: null,
      cancelled: false,
      ended: false,
      infos: { queue: [], sending: false },
    };
    relay.onFailure = (reason) => {
      log.error(`Media relay failed (${reason}): hanging up`);
      this.hangup(bridge, 'system');
    };
    this.pending.set(server.key, bridge);
    this.live.add(bridge);
    this.counters.started++;
    return bridge;
  }

  /** CANCEL from the caller (leg A) before the answer: 487 to it, CANCEL on leg B. */
  cancel(req: SipRequest, server: ServerTransaction): boolean {
    const invite = this.d.stack.inviteFor(req);
    const bridge = invite ? this.pending.get(invite.key) : undefined;
    if (!invite || !bridge) return false;
    server.respond(makeResponse(req, 200));
    bridge.cancelled = true;
    this.counters.cancelled++;
    bridge.cancelB?.();
    invite.respond(makeResponse(invite.request, 487, undefined, bridge.a.tag));
    this.finish(bridge, 'cancelled', 487, 'caller');
    return true;
  }

  /** A request inside one of the bridged dialogs (either side), or the phone's ACK. False when it is not ours. */
  inDialog(req: SipRequest, server: ServerTransaction | null, flow: Flow): boolean {
    const bridge = this.byKey.get(keyOf(req.callId, req.to.params.get('tag') ?? ''));
    if (!bridge) return false;
    const fromA = req.callId === bridge.a.req.callId;
    if (req.method === 'ACK') {
      if (fromA) {
        bridge.a.acked = true;
        clearTimeout(bridge.a.retransmit);
      }
      return true;
    }
    if (!server) return true;
    if (bridge.ended) {
      server.respond(makeResponse(req, 481));
      return true;
    }
    if (req.method === 'BYE') {
      server.respond(makeResponse(req, 200));
      this.hangup(bridge, fromA ? 'caller' : 'callee', fromA ? 'b' : 'a');
      return true;
    }
    if (req.method === 'INVITE' || req.method === 'UPDATE') {
      const dialog = fromA ? bridge.a.dialog : bridge.b.dialog;
      dialog?.receiveRequest(req);
      const body = req.body.toString('utf8');
      if (body.length > 0 && body !== bridge.bodies[fromA ? 'a' : 'b']) {
        this.passAcross(bridge, fromA ? 'a' : 'b', req, server, flow);
        return true;
      }
      // No offer, or the same one again (a session refresh, RFC 4028): answered here with
      // what that side already has from us; the other side need not hear of it.
      const sdp = fromA ? this.sdpTowardA(bridge, bridge.b.remote ?? bridge.a.remote) : bridge.b.remote ? this.sdpTowardB(bridge, bridge.b.remote) : null;
      const ok = makeResponse(req, 200, 'OK', undefined, [{ name: 'contact', value: `<${addressUri(this.d.opts().advertise(flow.transport))}>` }, ...(sdp && req.method === 'INVITE' ? [{ name: 'content-type', value: 'application/sdp' }] : [])]);
      if (sdp && req.method === 'INVITE') ok.body = Buffer.from(sdp);
      const expires = req.get('session-expires');
      if (expires) ok.headers.push({ name: 'session-expires', value: expires }, { name: 'require', value: 'timer' });
      server.respond(ok);
      return true;
    }
    if (req.method === 'INFO') {
      this.forwardAcross(bridge, fromA ? 'a' : 'b', req, server);
      return true;
    }
    server.respond(makeResponse(req, 200));
    return true;
  }

  /** The other leg's dialog and flow, seen from side `x`, or null when it is gone. */
  private across(bridge: Bridge, x: 'a' | 'b'): { dialog: Dialog; flow: Flow } | null {
    const leg = x === 'a' ? bridge.b : bridge.a;
    return leg.dialog && leg.flow && !leg.dialog.terminated ? { dialog: leg.dialog, flow: leg.flow } : null;
  }

  /**
   * An INFO (key presses as application/dtmf-relay, say) goes to the other side as our
   * own, with its body; the other side's final answer comes back.
   */
  private forwardAcross(bridge: Bridge, x: 'a' | 'b', req: SipRequest, server: ServerTransaction): void {
    const y = this.across(bridge, x);
    if (!y) return server.respond(makeResponse(req, 481));
    this.sendAcross(y, req.method, req.get('content-type') ?? null, req.body.toString('utf8'), (status, reason) => server.respond(makeResponse(req, status, reason)));
  }

  /** Our own request in the other leg's dialog (INFO): `done` gets its final status (408/503 when none came). */
  private sendAcross(y: { dialog: Dialog; flow: Flow }, method: string, type: string | null, body: string, done: (status: number, reason?: string) => void): void {
    const out = inDialogRequest(y.dialog, method, {
      via: this.d.opts().advertise(y.flow.transport),
      headers: [{ name: 'max-forwards', value: '70' }, ...(type ? [{ name: 'content-type', value: type }] : [])],
      body,
    });
    this.d.stack.sendRequest(out, y.flow, {
      response: (res) => {
        if (res.status >= 200) done(res.status, res.reason);
      },
      timeout: () => done(408),
      transportError: () => done(503),
    });
  }

  /**
   * dtmf_mode: info: the phone's key presses (RFC 4733 in its RTP) are taken out of the
   * stream by the relay and go to the provider as SIP INFO (application/dtmf-relay, the
   * form providers that ask for INFO read). Again after each new offer (its payload type).
   */
  private keysAsInfo(bridge: Bridge): void {
    const trunk = bridge.b.trunk;
    if (!trunk || trunk.dtmfMode !== 'info') return;
    const phone = bridge.direction === 'outbound' ? 'a' : 'b';
    const remote = phone === 'a' ? bridge.a.remote : bridge.b.remote;
    const event = remote?.formats.find((f) => f.encoding.toLowerCase() === 'telephone-event' && f.clockRate === 8000);
    if (!event) return;
    if (!bridge.relay.takeDigits(phone, event.payloadType)) {
      bridge.log.warn(`Trunk ${trunk.name} takes key presses as SIP INFO, but this media engine cannot take them out of the RTP: they reach the provider as RFC 4733 events`);
      return;
    }
    bridge.relay.onDigit = (_side, digit, ms) => {
      bridge.infos.queue.push({ digit, ms });
      this.nextInfo(bridge, phone);
    };
  }

  /** The next queued key press to the provider, once the one before was answered (in order). Digits are not logged: they may be PINs. */
  private nextInfo(bridge: Bridge, phone: 'a' | 'b'): void {
    if (bridge.infos.sending || bridge.ended) return;
    const key = bridge.infos.queue.shift();
    const y = this.across(bridge, phone);
    if (!key || !y) return;
    bridge.infos.sending = true;
    this.sendAcross(y, 'INFO', 'application/dtmf-relay', `Signal=${key.digit}\r\nDuration=${key.ms}\r\n`, (status) => {
      bridge.infos.sending = false;
      if (status >= 300) bridge.log.warn({ status }, `Trunk ${bridge.b.trunk?.name} answered a key press sent as SIP INFO with ${status}`);
      this.nextInfo(bridge, phone);
    });
  }

  /**
   * A new offer from one side (hold, resume, a new address) goes to the other side as
   * our own re-INVITE or UPDATE, with the relay's address; its answer comes back the
   * same way. The relay follows both sides' new addresses. One at a time (491 else).
   */
  private passAcross(bridge: Bridge, x: 'a' | 'b', req: SipRequest, server: ServerTransaction, flowX: Flow): void {
    const y = x === 'a' ? 'b' : 'a';
    const dialogY = y === 'a' ? bridge.a.dialog : bridge.b.dialog;
    const flowY = y === 'a' ? bridge.a.flow : bridge.b.flow;
    if (!dialogY || !flowY || dialogY.terminated) return server.respond(makeResponse(req, 481));
    if (bridge.offering) return server.respond(makeResponse(req, 491, 'Request Pending'));
    let offer: RemoteAudio;
    let sdp: string;
    const opts = this.d.opts();
    try {
      offer = parseRemoteAudio(req.body.toString('utf8'));
      sdp = relayedAudio(offer, { sessionId: bridge.sessionId, sessionVersion: ++bridge.versions[y], address: bridge.relay.address ?? bridge.addr[y], port: bridge.relay.ports[y] }, () => true, false);
    } catch (err) {
      const status = err instanceof SdpError ? err.status : 400;
      return server.respond(makeResponse(req, status, status === 488 ? 'Not Acceptable Here' : 'Bad Request: malformed SDP'));
    }
    bridge.relay.update(x, remoteMedia(offer), mediaSources(offer, flowX));
    bridge.bodies[x] = req.body.toString('utf8');
    if (x === 'a') bridge.a.remote = offer;
    else bridge.b.remote = offer;
    const sentBy = opts.advertise(flowY.transport);
    const out = inDialogRequest(dialogY, req.method, {
      via: sentBy,
      contact: addressUri(sentBy, 'trunk'),
      headers: [
        { name: 'max-forwards', value: '70' },
        { name: 'content-type', value: 'application/sdp' },
      ],
      body: sdp,
    });
    bridge.offering = true;
    const done = (res: SipResponse | null, status: number, reason?: string) => {
      bridge.offering = false;
      if (!res || res.status >= 300) return server.respond(makeResponse(req, status, reason));
      let answer: RemoteAudio;
      try {
        answer = parseRemoteAudio(res.body.toString('utf8'));
      } catch {
        return server.respond(makeResponse(req, 488, 'Not Acceptable Here'));
      }
      bridge.relay.update(y, remoteMedia(answer), mediaSources(answer, flowY));
      bridge.bodies[y] = res.body.toString('utf8');
      if (y === 'a') bridge.a.remote = answer;
      else bridge.b.remote = answer;
      const back = relayedAudio({ ...answer, index: offer.index, media: offer.media }, { sessionId: bridge.sessionId, sessionVersion: ++bridge.versions[x], address: bridge.relay.address ?? bridge.addr[x], port: bridge.relay.ports[x] }, () => true, true);
      const ok = makeResponse(req, 200, 'OK', undefined, [
        { name: 'contact', value: `<${addressUri(opts.advertise(flowX.transport), 'trunk')}>` },
        { name: 'content-type', value: 'application/sdp' },
      ]);
      ok.body = Buffer.from(back);
      server.respond(ok);
      this.keysAsInfo(bridge);
      bridge.log.info({ from: x === 'a' ? 'caller' : 'callee', direction: offer.direction, answer: answer.direction }, `Call from ${bridge.call.caller} to ${bridge.call.callee}: new media offer (${offer.direction}) passed across, answered ${answer.direction}`);
    };
    this.d.stack.sendRequest(out, flowY, {
      response: (res) => {
        if (res.status < 200) return;
        if (out.method === 'INVITE' && res.status < 300) this.d.stack.sendStateless(ackFor2xx(dialogY, out, { via: sentBy }), flowY);
        done(res, res.status, res.reason);
      },
      timeout: () => done(null, 408, 'Request Timeout'),
      transportError: () => done(null, 503, 'Service Unavailable'),
    });
  }

  /**
   * RFC 4028 session timers, on either leg. Leg B's answer may make us the refresher
   * (Session-Expires with refresher=uac: we sent the INVITE); leg A's INVITE may ask for
   * a session timer (our 200 then says who refreshes: refresher=uas makes it us, else
   * the caller). As refresher we send UPDATE every half interval; a failed refresh ends
   * the call, as the session is gone.
   */
  private sessionTimers(bridge: Bridge, answerB: SipResponse, okA: SipResponse): void {
    const parse = (v: string | undefined) => {
      const m = /^\s*(\d+)\s*(?:;.*refresher\s*=\s*(uac|uas))?/i.exec(v ?? '');
      return m ? { seconds: Math.max(2, Number(m[1])), refresher: (m[2]?.toLowerCase() ?? null) as 'uac' | 'uas' | null } : null;
    };
    const b = parse(answerB.get('session-expires'));
    if (b?.refresher === 'uac') this.refreshEvery(bridge, 'b', b.seconds);
    const a = parse(bridge.a.req.get('session-expires'));
    if (a) {
      const refresher = a.refresher ?? 'uac';
      okA.headers.push({ name: 'session-expires', value: `${a.seconds};refresher=${refresher}` }, { name: 'require', value: 'timer' });
      if (refresher === 'uas') this.refreshEvery(bridge, 'a', a.seconds);
    }
  }

  private refreshEvery(bridge: Bridge, side: 'a' | 'b', seconds: number): void {
    const refresh = () => {
      const dialog = side === 'a' ? bridge.a.dialog : bridge.b.dialog;
      const flow = side === 'a' ? bridge.a.flow : bridge.b.flow;
      if (bridge.ended || !dialog || !flow || dialog.terminated) return;
      const sentBy = this.d.opts().advertise(flow.transport);
      const update = inDialogRequest(dialog, 'UPDATE', {
        via: sentBy,
        contact: addressUri(sentBy, 'trunk'),
        headers: [
          { name: 'session-expires', value: `${seconds};refresher=${side === 'b' ? 'uac' : 'uas'}` },
          { name: 'supported', value: 'timer' },
        ],
      });
      this.d.stack.sendRequest(update, flow, {
        response: (r) => {
          if (r.status >= 300 && !bridge.ended) {
            bridge.log.warn({ status: r.status }, `The session refresh was refused (${r.status} ${r.reason}): hanging up`);
            this.hangup(bridge, 'system');
          }
        },
        timeout: () => {
          if (bridge.ended) return;
          bridge.log.warn('No answer to the session refresh: hanging up');
          this.hangup(bridge, 'system');
        },
        transportError: () => this.hangup(bridge, 'system'),
      });
      bridge.refresh[side] = setTimeout(refresh, (seconds * 1000) / 2);
      bridge.refresh[side].unref();
    };
    bridge.log.info({ session_expires: seconds, leg: side }, `The ${side === 'b' ? 'callee' : 'caller'} asks for session refreshes every ${seconds} s: the pbx refreshes (UPDATE) every ${seconds / 2} s`);
    bridge.refresh[side] = setTimeout(refresh, (seconds * 1000) / 2);
    bridge.refresh[side].unref();
  }

  /** Hangs up every bridged call (shutdown). */
  close(): void {
    clearInterval(this.watchdog);
    for (const b of new Set(this.byKey.values())) this.hangup(b, 'system');
  }

  /**
   * One timer for every bridged call: when one side's RTP flows and the other's has not
   * come for `oneWaySeconds`, the call has one-way audio. Said once per call, with the
   * likely cause, and kept for the CDR.
   */
  private watch(): void {
    if (this.watchdog) return;
    this.watchdog = setInterval(() => {
      const now = Date.now();
      const limit = this.d.opts().oneWaySeconds * 1000;
      const bridges = new Set(this.byKey.values());
      for (const b of bridges) {
        if (b.oneWay || b.ended || now - b.answeredAt < limit) continue;
        const s = b.relay.stats;
        const flowing = (at: number) => at > 0 && now - at < 2000;
        const silent = (at: number) => (at === 0 ? now - b.answeredAt : now - at) >= limit;
        const side = flowing(s.a.lastReceivedAt) && silent(s.b.lastReceivedAt) ? 'callee' : flowing(s.b.lastReceivedAt) && silent(s.a.lastReceivedAt) ? 'caller' : null;
        if (!side) continue;
        b.oneWay = side;
        this.counters.oneWay++;
        const cause =
          side === 'callee'
            ? `no RTP from the provider (${b.b.trunk?.name ?? 'trunk'}) reaches the pbx: a firewall or NAT in front of the pbx drops it, or server.external_ip (${this.d.opts().mediaAddress}) is not the address the provider can reach`
            : 'no RTP from the phone reaches the pbx: the phone sits behind a NAT or firewall that drops it, or it sends to another address';
        b.log.warn({ one_way: side, relay: s }, `One-way audio on the call from ${b.call.caller} to ${b.call.callee}: ${cause}`);
      }
      if (bridges.size === 0) {
        clearInterval(this.watchdog);
        this.watchdog = undefined;
      }
    }, 1000);
    this.watchdog.unref();
  }

  /** One INVITE toward one target of a trunk, answered challenge included. */
  private async attempt(bridge: Bridge, trunk: Trunk, target: Target, o: OutboundCall): Promise<'answered' | { status: number; reason: string }> {
    // UDP, or a TCP/TLS connection (TLS checks the provider's certificate for its host name).
    let flow: Flow | undefined;
    try {
      flow = await flowToTarget(this.d.stack, trunk, target);
    } catch (err) {
      return { status: 503, reason: `Service Unavailable (could not connect to ${targetName(target)}: ${(err as Error).message})` };
    }
    if (!flow) return { status: 503, reason: `Service Unavailable (no ${target.transport.toUpperCase()} flow to ${targetName(target)})` };
    return this.invite(bridge, trunk, target, o, flow);
  }

  private invite(bridge: Bridge, trunk: Trunk, target: Target, o: OutboundCall, flow: Flow): Promise<'answered' | { status: number; reason: string }> {
    return new Promise((resolve) => {
      const opts = this.d.opts();
      const sentBy = opts.advertise(flow.transport);
      const domain = trunkDomain(trunk);
      let sdp: string;
      try {
        sdp = relayedAudio(bridge.a.remote, { sessionId: bridge.sessionId, sessionVersion: 1, address: bridge.relay.address ?? bridge.addr.b, port: bridge.relay.ports.b }, (c) => trunk.codecs.includes(c), false);
      } catch (err) {
        return resolve({ status: (err as SdpError).status ?? 488, reason: (err as Error).message });
      }
      const identity = `sip:${o.callerId}@${domain}`;
      const headers: Header[] = [
        { name: 'max-forwards', value: '70' },
        { name: 'allow', value: ALLOW },
        // We refresh sessions when the provider asks (RFC 4028).
        { name: 'supported', value: 'timer' },
        { name: 'user-agent', value: opts.userAgent },
        { name: 'content-type', value: 'application/sdp' },
      ];
      // The phone asked to withhold its number (Privacy: id, RFC 3323/3325): From says
      // anonymous, the asserted identity still goes to the provider (billing, emergency
      // services) marked private, and the provider strips it toward the called party.
      const hidden = /(^|[;,\s])(id|user|header)([;,\s]|$)/i.test(bridge.a.req.get('privacy') ?? '');
      if (trunk.callerIdHeader === 'pai') headers.push({ name: 'p-asserted-identity', value: `<${identity}>` });
      if (trunk.callerIdHeader === 'rpid') headers.push({ name: 'remote-party-id', value: `<${identity}>;party=calling;screen=yes;privacy=${hidden ? 'full' : 'off'}` });
      if (hidden) headers.push({ name: 'privacy', value: 'id' });
      let invite = outOfDialogRequest({
        method: 'INVITE',
        uri: `sip:${o.number}@${domain}`,
        from: hidden ? 'sip:anonymous@anonymous.invalid' : `sip:${trunk.fromUser ?? o.callerId}@${domain}`,
        fromDisplay: hidden ? 'Anonymous' : (o.callerName ?? undefined),
        via: sentBy,
        contact: addressUri(sentBy, trunk.fromUser ?? o.callerId),
        headers,
        body: sdp,
      });
      let challenged = false;
      // A provider that sends nothing at all (not even 100 Trying) in trunkTimeoutSeconds is
      // taken as down: the next target or trunk is tried, without waiting for Timer B (32 s).
      let heard = false;
      let settled = false;
      const settle = (outcome: 'answered' | { status: number; reason: string }) => {
        settled = true;
        clearTimeout(silence);
        resolve(outcome);
      };
      const silence = setTimeout(() => {
        if (!heard && !settled) settle({ status: 408, reason: `Request Timeout (nothing from the provider in ${opts.trunkTimeoutSeconds} s)` });
      }, opts.trunkTimeoutSeconds * 1000);
      silence.unref();
      const send = (request: SipRequest) => {
        bridge.b = { trunk, flow, invite: request, tx: null, dialog: null, remote: null };
        bridge.cancelB = () => this.d.stack.sendRequest(cancelFor(request), flow, { response: () => {}, timeout: () => {}, transportError: () => {} });
        bridge.b.tx = this.d.stack.sendRequest(request, flow, {
          response: (res) => onResponse(request, res),
          timeout: () => !settled && settle({ status: 408, reason: 'Request Timeout (no answer from the provider)' }),
          transportError: () => !settled && settle({ status: 503, reason: 'Service Unavailable (could not send to the provider)' }),
        });
      };
      const onResponse = (request: SipRequest, res: SipResponse) => {
        heard = true;
        if (settled || bridge.ended || bridge.cancelled) {
          // Too late (given up on, or the call is over): an answer is taken and hung up at once (§15).
          if (res.status >= 200 && res.status < 300) {
            const dialog = Dialog.uac(request, res);
            this.d.stack.sendStateless(ackFor2xx(dialog, request, { via: sentBy }), flow);
            this.d.stack.sendRequest(inDialogRequest(dialog, 'BYE', { via: sentBy }), flow, { response: () => {}, timeout: () => {}, transportError: () => {} });
            if (!settled) settle({ status: 487, reason: 'Request Terminated' });
          }
          return;
        }
        if (res.status < 200) return this.provisional(bridge, res, flow);
        if (res.status < 300) {
          this.answered(bridge, request, res, flow, sentBy);
          return settle('answered');
        }
        if (challengeHeaders(res.status) && !challenged && trunk.password) {
          challenged = true;
          const retry = authenticatedRequest(request, res, { username: trunk.authUsername ?? trunk.username ?? o.callerId, password: trunk.password });
          if (retry) {
            invite = retry;
            return send(retry);
          }
        }
        settle({ status: res.status, reason: res.reason });
      };
      bridge.call.trunk = trunk.name;
      bridge.log.info({ trunk: trunk.name, target: targetName(target) }, `Call from ${o.caller} to ${o.number}: out through trunk ${trunk.name}`);
      send(invite);
    });
  }

  private provisional(bridge: Bridge, res: SipResponse, flow: Flow): void {
    if (res.status === 100) return;
    let sdp: string | null = null;
    if (res.body.length > 0) {
      try {
        const remote = parseRemoteAudio(res.body.toString('utf8'));
        bridge.relay.update('b', remoteMedia(remote), mediaSources(remote, flow));
        sdp = this.sdpTowardA(bridge, remote);
      } catch {
        // Early media we cannot use: the ringing is passed on without it.
      }
    }
    const status = sdp ? 183 : 180;
    const p = makeResponse(bridge.a.req, status, undefined, bridge.a.tag, [{ name: 'contact', value: `<${addressUri(this.d.opts().advertise(bridge.a.flow.transport))}>` }, ...(sdp ? [{ name: 'content-type', value: 'application/sdp' }] : [])]);
    if (sdp) p.body = Buffer.from(sdp);
    bridge.a.server.respond(p);
  }

  private answered(bridge: Bridge, invite: SipRequest, res: SipResponse, flow: Flow, sentBy: SentBy): void {
    const dialog = Dialog.uac(invite, res);
    bridge.b.dialog = dialog;
    this.d.stack.sendStateless(ackFor2xx(dialog, invite, { via: sentBy }), flow);
    let sdp: string | null = null;
    try {
      const remote = parseRemoteAudio(res.body.toString('utf8'));
      bridge.relay.update('b', remoteMedia(remote), mediaSources(remote, flow));
      bridge.b.remote = remote;
      bridge.bodies.b = res.body.toString('utf8');
      sdp = this.sdpTowardA(bridge, remote);
    } catch (err) {
      bridge.log.warn(`The ${bridge.direction === 'outbound' ? "provider's" : "phone's"} answer has no usable SDP (${(err as Error).message}): hanging up`);
      this.pending.delete(bridge.a.server.key);
      bridge.a.server.respond(makeResponse(bridge.a.req, 488, 'Not Acceptable Here'));
      this.d.stack.sendRequest(inDialogRequest(dialog, 'BYE', { via: sentBy }), flow, { response: () => {}, timeout: () => {}, transportError: () => {} });
      this.finish(bridge, 'failed', 488, 'system');
      return;
    }
    const opts = this.d.opts();
    const ok = makeResponse(bridge.a.req, 200, 'OK', bridge.a.tag, [
      { name: 'contact', value: `<${addressUri(opts.advertise(bridge.a.flow.transport), 'trunk')}>` },
      { name: 'allow', value: ALLOW },
      { name: 'content-type', value: 'application/sdp' },
    ]);
    ok.body = Buffer.from(sdp!);
    this.sessionTimers(bridge, res, ok);
    bridge.a.dialog = Dialog.uas(bridge.a.req, bridge.a.tag);
    bridge.a.ok = ok;
    bridge.answered = true;
    bridge.answeredAt = Date.now();
    this.watch();
    this.pending.delete(bridge.a.server.key);
    this.byKey.set(keyOf(bridge.a.req.callId, bridge.a.tag), bridge);
    this.byKey.set(keyOf(invite.callId, invite.from.params.get('tag') ?? ''), bridge);
    bridge.a.server.respond(ok);
    this.retransmit(bridge, opts.t1, 0);
    this.counters.answered++;
    this.keysAsInfo(bridge);
    this.d.calls.answered(bridge.call);
    bridge.log.info({ trunk: bridge.b.trunk?.name }, `✓ Call from ${bridge.call.caller} to ${bridge.call.callee} answered ${bridge.direction === 'outbound' ? 'via' : 'from'} trunk ${bridge.b.trunk?.name}`);
  }

  /**
   * Our SDP toward leg A (the caller): our address and the relay's A-side port, with the
   * formats of `formatsFrom`, in the m-line order of A's offer.
   */
  private sdpTowardA(bridge: Bridge, formatsFrom: RemoteAudio): string {
    const local = { sessionId: bridge.sessionId, sessionVersion: bridge.versions.a, address: bridge.relay.address ?? bridge.addr.a, port: bridge.relay.ports.a };
    const answer = { ...formatsFrom, index: bridge.a.remote.index, media: bridge.a.remote.media };
    return relayedAudio(answer, local, () => true, true);
  }

  /** Our SDP toward leg B again (its re-INVITE): the relay's B-side port with the formats it answered. */
  private sdpTowardB(bridge: Bridge, remote: RemoteAudio): string {
    const local = { sessionId: bridge.sessionId, sessionVersion: bridge.versions.b, address: bridge.relay.address ?? bridge.addr.b, port: bridge.relay.ports.b };
    return relayedAudio(remote, local, () => true, true);
  }

  /** §13.3.1.4: the 2xx to the phone again until its ACK (T1 doubling to T2), for 64·T1. */
  private retransmit(bridge: Bridge, interval: number, elapsed: number): void {
    const { t1, t2 } = this.d.opts();
    if (elapsed >= 64 * t1) {
      bridge.log.warn('No ACK from the phone for the 2xx: hanging up');
      return this.hangup(bridge, 'system');
    }
    bridge.a.retransmit = setTimeout(() => {
      if (bridge.a.acked || bridge.ended || !bridge.a.ok) return;
      this.d.stack.sendStateless(bridge.a.ok, bridge.a.flow);
      this.retransmit(bridge, Math.min(interval * 2, t2), elapsed + interval);
    }, interval);
    bridge.a.retransmit.unref();
  }

  /** Ends an answered call: BYE to the side(s) that did not hang up. */
  private hangup(bridge: Bridge, by: 'caller' | 'callee' | 'system', tell: 'a' | 'b' | 'both' = 'both'): void {
    if (bridge.ended) return;
    const opts = this.d.opts();
    const bye = (dialog: Dialog | null, flow: Flow | null) => {
      if (!dialog || !flow || dialog.terminated) return;
      this.d.stack.sendRequest(inDialogRequest(dialog, 'BYE', { via: opts.advertise(flow.transport) }), flow, { response: () => {}, timeout: () => {}, transportError: () => {} });
    };
    if (tell !== 'b') bye(bridge.a.dialog, bridge.a.flow);
    if (tell !== 'a') bye(bridge.b.dialog, bridge.b.flow);
    this.finish(bridge, 'answered', 200, by);
  }

  private fail(bridge: Bridge, last: { status: number; reason: string }): void {
    if (bridge.ended || bridge.cancelled) return;
    this.pending.delete(bridge.a.server.key);
    // The provider's credentials problem is ours, not the phone's: never a challenge to it.
    const status = challengeHeaders(last.status) ? 503 : last.status;
    bridge.a.server.respond(makeResponse(bridge.a.req, status, status === last.status ? last.reason : 'Service Unavailable (the provider refused the trunk credentials)', bridge.a.tag));
    this.counters.failed++;
    bridge.log.warn({ status: last.status }, `Call from ${bridge.call.caller} to ${bridge.call.callee} failed: ${last.status} ${last.reason}`);
    this.finish(bridge, status === 486 || status === 600 ? 'busy' : bridge.direction === 'inbound' && status === 480 ? 'no_answer' : 'failed', status, null);
  }

  private finish(bridge: Bridge, result: 'answered' | 'cancelled' | 'failed' | 'busy' | 'no_answer', status: number, by: 'caller' | 'callee' | 'system' | null): void {
    if (bridge.ended) return;
    bridge.ended = true;
    this.live.delete(bridge);
    clearTimeout(bridge.a.retransmit);
    clearTimeout(bridge.refresh.a);
    clearTimeout(bridge.refresh.b);
    this.pending.delete(bridge.a.server.key);
    bridge.a.dialog?.terminate();
    bridge.b.dialog?.terminate();
    for (const [k, v] of this.byKey) if (v === bridge) this.byKey.delete(k);
    void bridge.relay.close().then((stats) => {
      if (bridge.handedOver) return;
      this.d.calls.end(bridge.call, result, status, by, {
        packetsSent: stats.b.forwarded,
        packetsReceived: stats.a.received,
        packetsLost: 0,
        jitterMs: 0,
        oneWay: bridge.oneWay,
      });
      if (result === 'answered') bridge.log.info({ by, relay: stats }, `Call from ${bridge.call.caller} to ${bridge.call.callee} ended by the ${by}: relayed ${stats.a.forwarded} packets out, ${stats.b.forwarded} in`);
    });
  }
}

function keyOf(callId: string, tag: string): string {
  return `${callId}\u0000${tag}`;
}
