// The PBX's SIP transaction user: what the server does with each request. Like
// Kamailio's request_route: sanity checks, then REGISTER → registrar, requests inside
// a dialog → proxy by dialog, everything else from a phone → authenticate (407) →
// route to the dialled extension. OPTIONS to the server is answered directly.
import { makeResponse, type SipRequest, type SipResponse } from '../sip/message.js';
import { SipParseError } from '../sip/errors.js';
import type { SipStack, StackDelegate } from '../sip/stack.js';
import type { Flow } from '../sip/transport.js';
import type { ServerTransaction } from '../sip/transactions/server.js';
import { statelessTag } from '../sip/ids.js';
import { authenticate, unsupportedOptions, type Authenticator } from './request-checks.js';
import type { Registrar } from './registrar.js';
import type { SipProxy } from './proxy.js';
import type { Calls } from './calls.js';
import { SCANNER_UA, type FloodGuard } from './flood-guard.js';
import type { ServiceAgent, ServiceApp } from './service-agent.js';

const ALLOW = 'INVITE, ACK, BYE, CANCEL, OPTIONS, REGISTER, PRACK, UPDATE, REFER, INFO, MESSAGE, SUBSCRIBE, NOTIFY';
const KNOWN = new Set([...ALLOW.split(', '), 'PUBLISH']);
const SUPPORTED = ['path', 'outbound', 'gruu', '100rel', 'timer', 'replaces'];

export interface SipServiceDeps extends Authenticator {
  stack: SipStack;
  registrar: Registrar;
  proxy: SipProxy;
  calls: Calls;
  isExtension: (number: string) => boolean;
  userAgent: string;
  guard: FloodGuard;
  /** The edge proxies in front of this node: where a request really comes from (the phone behind one). */
  edges?: { has(ip: string): boolean; clientOf(req: SipRequest, flow: Flow): string };
  /** The pbx's own user agent: the calls services answer. */
  agent: ServiceAgent;
  /** Numbers that are services (feature codes such as *97): the app that answers them. */
  serviceFor: (dialled: string, caller: string) => ServiceApp | undefined;
  /** Event packages SUBSCRIBE may ask for, and who answers them (message-summary …). */
  subscriptions: SubscriptionHandler | null;
  /** Calls to the outside world (trunks), once they exist. */
  trunkCalls: TrunkCallHandler | null;
}

/** Calls bridged to a trunk: new ones to numbers that are no extension, and their dialogs. */
export interface TrunkCallHandler {
  /** An INVITE to a number that is no extension nor service: true when it was taken (sent out or refused). */
  outbound(req: SipRequest, server: ServerTransaction, flow: Flow, caller: string, dialled: string): boolean;
  /** An initial INVITE before authentication: true when it came from a trunk (or spoofs one) and was taken. */
  inbound(req: SipRequest, server: ServerTransaction, flow: Flow): boolean;
  /** A provider's address: its traffic is not flood-limited (a busy trunk is no flood). */
  isTrunkAddress(ip: string): boolean;
  cancel(req: SipRequest, server: ServerTransaction): boolean;
  inDialog(req: SipRequest, server: ServerTransaction | null, flow: Flow): boolean;
}

/** Answers an authenticated initial SUBSCRIBE (RFC 6665) for the packages it knows; false: 489. */
export interface SubscriptionHandler {
  readonly events: string[];
  subscribe(req: SipRequest, server: ServerTransaction, flow: Flow, subscriber: string): boolean;
  /** A SUBSCRIBE (refresh or end) or NOTIFY answer inside one of its subscriptions. */
  inDialog(req: SipRequest, server: ServerTransaction | null, flow: Flow): boolean;
}

export class SipService implements StackDelegate {
  constructor(private readonly d: SipServiceDeps) {}

  /** Before the stack makes a transaction: floods and scanners are dropped without one. */
  admit(req: SipRequest, flow: Flow): boolean {
    if (this.d.trunkCalls?.isTrunkAddress(flow.remoteAddress)) return true;
    const edge = this.d.edges?.has(flow.remoteAddress) === true;
    const ip = edge ? this.d.edges!.clientOf(req, flow) : flow.remoteAddress;
    // The edge's own requests (its OPTIONS probes) are never limited.
    if (edge && ip === flow.remoteAddress) return true;
    // Behind an edge the transport let the packet in: the phone's own ban is checked here.
    if ((edge && !this.d.guard.admit(ip)) || !this.d.guard.request(ip, flow.reliable)) return this.refuse(req, flow, edge, 'Forbidden: banned');
    const ua = req.get('user-agent');
    if (ua && SCANNER_UA.test(ua)) {
      // Scanners get no answer at all: nothing to learn (the guard decides on a ban).
      this.d.guard.scanner(ip, ua, flow.reliable);
      return this.refuse(req, flow, edge, 'Forbidden');
    }
    return true;
  }

  /**
   * A refused request is dropped without a word, unless an edge proxy brought it: an edge
   * that hears nothing takes this node for dead and stops sending it anyone's calls.
   */
  private refuse(req: SipRequest, flow: Flow, edge: boolean, reason: string): false {
    if (edge && req.method !== 'ACK') this.d.stack.sendStateless(makeResponse(req, 403, reason), flow);
    return false;
  }

  request(req: SipRequest, tx: ServerTransaction | null, flow: Flow): void {
    try {
      this.route(req, tx, flow);
    } catch (err) {
      if (!(err instanceof SipParseError)) {
        this.d.log.error({ err, method: req.method, call_id: safeCallId(req) }, 'Error while handling a SIP request');
        if (tx) this.respond(tx, makeResponse(req, 500, 'Server Internal Error'));
        return;
      }
      // A header the stack did not need up front (Contact, Authorization …) is malformed.
      if (tx) this.respond(tx, makeResponse(req, err.status === 416 ? 400 : err.status, err.message.replace(/[^\x20-\x7e]/g, '?').slice(0, 120)));
    }
  }

  ackTimeout(): void {
    /* the transaction layer already gave up; nothing to undo */
  }

  private route(req: SipRequest, tx: ServerTransaction | null, flow: Flow): void {
    // ACK for a 2xx (no transaction): forward within its dialog, or drop.
    if (!tx) {
      if (req.method === 'ACK' && !this.d.agent.inDialog(req, null, flow) && !this.d.trunkCalls?.inDialog(req, null, flow)) this.d.proxy.routeInDialog(req, null, flow);
      return;
    }
    const method = req.method;
    if (!KNOWN.has(method)) {
      this.respond(tx, makeResponse(req, 501, 'Not Implemented', undefined, [{ name: 'allow', value: ALLOW }]));
      return;
    }
    if (method === 'CANCEL') {
      if (!this.d.agent.cancel(req, tx) && !this.d.trunkCalls?.cancel(req, tx)) this.d.proxy.cancel(req, tx);
      return;
    }
    const toTag = req.to.params.get('tag');
    if (toTag) {
      if (this.d.agent.inDialog(req, tx, flow) || this.d.trunkCalls?.inDialog(req, tx, flow) || this.d.subscriptions?.inDialog(req, tx, flow)) return;
      if (!this.d.proxy.routeInDialog(req, tx, flow)) this.respond(tx, makeResponse(req, 481));
      return;
    }
    if (method === 'REGISTER') {
      this.respond(tx, this.d.registrar.handle(req, flow));
      return;
    }
    if (method === 'OPTIONS') {
      const unsupported = unsupportedOptions(req, 'require', SUPPORTED);
      if (unsupported) {
        this.respond(tx, makeResponse(req, 420, undefined, undefined, [unsupported]));
        return;
      }
      this.respond(
        tx,
        makeResponse(req, 200, 'OK', undefined, [
          { name: 'allow', value: ALLOW },
          { name: 'accept', value: 'application/sdp' },
          { name: 'supported', value: SUPPORTED.join(', ') },
          { name: 'server', value: this.d.userAgent },
        ]),
      );
      return;
    }
    const events = this.d.subscriptions?.events ?? [];
    const event = (req.get('event') ?? '').split(';')[0]!.trim().toLowerCase();
    if (method === 'PUBLISH' || (method === 'SUBSCRIBE' && !events.includes(event))) {
      // A package this server does not serve: say which it does, so phones stop retrying.
      this.respond(tx, makeResponse(req, 489, 'Bad Event', undefined, [{ name: 'allow-events', value: events.join(', ') }]));
      return;
    }
    if (method === 'ACK' || method === 'BYE' || method === 'PRACK' || method === 'UPDATE' || method === 'INFO') {
      // These only exist inside a dialog.
      this.respond(tx, makeResponse(req, 481));
      return;
    }
    const unsupported = unsupportedOptions(req, 'proxy-require', SUPPORTED);
    if (unsupported) {
      this.respond(tx, makeResponse(req, 420, undefined, undefined, [unsupported]));
      return;
    }

    // A provider's call comes without credentials (it answers no challenge of ours).
    if (method === 'INVITE' && this.d.trunkCalls?.inbound(req, tx, flow)) return;
    // Every other request from a phone is authenticated, and the digest user is the caller.
    const auth = authenticate(this.d, req, flow, 'proxy-authorization', req.from.uri.user ?? undefined);
    if (!auth.ok) {
      this.respond(tx, makeResponse(req, 407, undefined, statelessTag(), auth.challenges.map((value) => ({ name: 'proxy-authenticate', value }))));
      return;
    }
    const caller = auth.username;
    if ((req.from.uri.user ?? '') !== caller) {
      this.d.log.warn({ ip: flow.remoteAddress, username: caller, from: req.from.uri.user }, `${method} refused: ${caller} may not send as ${req.from.uri.user ?? '(no user)'}`);
      this.respond(tx, makeResponse(req, 403, 'Forbidden: From does not match the credentials'));
      return;
    }
    const mf = req.get('max-forwards');
    if (mf !== undefined && Number(mf) <= 0) {
      this.respond(tx, makeResponse(req, 483));
      return;
    }
    const callee = req.requestUri.user ?? '';
    if (method === 'SUBSCRIBE') {
      if (!this.d.subscriptions!.subscribe(req, tx, flow, caller)) this.respond(tx, makeResponse(req, 403, 'Forbidden: not your subscription'));
      return;
    }
    const service = method === 'INVITE' ? this.d.serviceFor(callee, caller) : undefined;
    if (service) {
      this.respond(tx, makeResponse(req, 100));
      const call = this.d.calls.start(req.callId, req.from.params.get('tag') ?? '', caller, callee);
      this.d.agent.answer(
        req,
        tx,
        flow,
        { callId: req.callId, caller, callerName: req.from.display ?? null, dialled: callee, sourceAddress: flow.remoteAddress },
        recorded(this.d.calls, call, service),
        (status) => this.d.calls.end(call, status === 487 ? 'cancelled' : 'failed', status, null),
      );
      return;
    }
    if (method === 'INVITE' && !this.d.isExtension(callee) && this.d.trunkCalls?.outbound(req, tx, flow, caller, callee)) return;
    if (!this.d.isExtension(callee)) {
      if (method === 'INVITE') {
        const call = this.d.calls.start(req.callId, req.from.params.get('tag') ?? '', caller, callee || '(none)');
        this.d.calls.end(call, 'unknown_extension', 404, null);
      }
      this.respond(tx, makeResponse(req, 404, 'Not Found'));
      return;
    }
    if (method === 'INVITE') this.respond(tx, makeResponse(req, 100));
    this.d.proxy.routeInitial(req, tx, flow, caller, callee);
  }

  /** Challenges go out once, statelessly (RFC 3261 §26.3.2.4; see respondStatelessly); the rest through the transaction. */
  private respond(tx: ServerTransaction, res: SipResponse): void {
    if (res.status === 401 || res.status === 407) tx.respondStatelessly(res);
    else tx.respond(res);
  }
}

function safeCallId(req: SipRequest): string | undefined {
  try {
    return req.callId;
  } catch {
    return undefined;
  }
}

/** The service's call in the call list and CDR: answered when it runs, ended when it returns. */
export function recorded(calls: Calls, call: import('./calls.js').Call, app: ServiceApp, result: 'answered' | 'voicemail' = 'answered'): ServiceApp {
  return async (session) => {
    calls.answered(call);
    try {
      await app(session);
    } finally {
      session.hangup();
      const by = await session.ended;
      calls.end(call, result, 200, by === 'caller' ? 'caller' : 'system', session.stats);
    }
  };
}
