// A record-routing, transaction- and dialog-stateful proxy (RFC 3261 §16) for calls
// and other requests between extensions. Initial requests fork in parallel to every
// registered contact (first 2xx wins, the other branches are CANCELled); in-dialog
// requests are routed by the dialog table to the flow each party uses, so phones
// behind NAT are reached; ACK for 2xx is forwarded statelessly.
import type { Logger } from 'pino';
import { makeResponse, SipRequest, type SipResponse } from '../sip/message.js';
import { addressUri, cancelFor, viaValue, type SentBy } from '../sip/requests.js';
import type { SipStack } from '../sip/stack.js';
import type { Flow } from '../sip/transport.js';
import { flowToBinding, flowToPeer, peerOf, type Peer } from './reach.js';
import type { DialogStore } from './dialog-store.js';
import type { ServerTransaction } from '../sip/transactions/server.js';
import type { ClientTransaction, ClientTransactionUser } from '../sip/transactions/client.js';
import type { Binding, Location } from './location.js';
import { resultOf, type Call, type CallResult, type Calls } from './calls.js';
import { DialogTable, type ProxyDialog } from './dialog-table.js';
import type { AnchoredMedia, AnchorSide } from './media-anchor.js';

/**
 * Whether a call's media goes through the pbx, and its relay when it does: null when
 * not (the phones send RTP to each other); a rejected promise: no relay could be opened.
 */
export type Anchor = (invite: SipRequest, caller: string, callerFlow: Flow, callees: Binding[]) => Promise<AnchoredMedia> | null;

/** Where an initial request's fork stands towards the caller (RFC 3261 §16.7). */
export enum ForkState {
  /** Branches are ringing; no final response has gone to the caller. */
  Calling = 'Calling',
  /** The caller sent CANCEL: the branches are being cancelled; the caller gets 487 when they are done. */
  Cancelled = 'Cancelled',
  /** A 2xx went to the caller (later 2xx from other branches are still relayed, §16.7 step 5). */
  Answered = 'Answered',
  /** The ring time ran out: 480 went to the caller, the branches are being cancelled. */
  NoAnswer = 'NoAnswer',
  /** Every branch ended without a 2xx: the best final response went to the caller (§16.7.6). */
  Completed = 'Completed',
}

/** One branch of a fork (a client transaction towards one contact). */
export enum BranchState {
  /** Sent; nothing heard yet. */
  Trying = 'Trying',
  /** A provisional response arrived. */
  Proceeding = 'Proceeding',
  /** To be cancelled, but §9.1 forbids a CANCEL before a provisional response: sent when one arrives. */
  CancelPending = 'CancelPending',
  /** CANCEL sent; waiting for the final response (487). */
  Cancelling = 'Cancelling',
  /** A final response arrived (or was made up: timeout, transport error). */
  Completed = 'Completed',
}

interface Branch {
  state: BranchState;
  request: SipRequest;
  flow: Flow;
  peer: Peer;
  /** Its client transaction, once sent. */
  tx: ClientTransaction | null;
}

interface ForkContext {
  state: ForkState;
  server: ServerTransaction;
  request: SipRequest;
  caller: Peer;
  branches: Branch[];
  best: SipResponse | null;
  call: Call | null;
  timer: NodeJS.Timeout | undefined;
  /** The caller's flow (a diverted call is answered there). */
  flow: Flow;
  /** The call's media goes through the pbx (media.anchor). */
  media: AnchoredMedia | null;
}

/** A final response has gone to the caller: nothing more but 2xx retransmissions goes upstream. */
function answeredUpstream(ctx: ForkContext): boolean {
  return ctx.state === ForkState.Answered || ctx.state === ForkState.NoAnswer || ctx.state === ForkState.Completed;
}

/** Why a call to an extension reached nobody. */
export type Unreached = 'unavailable' | 'no_answer' | 'busy';

/**
 * Takes an INVITE whose extension was not reached (voicemail): answers it on `server`
 * itself and returns true, or returns false and the proxy answers 480/486 as before.
 * The call record is the taker's from then on.
 */
export type Divert = (req: SipRequest, server: ServerTransaction, flow: Flow, call: Call, reason: Unreached) => boolean;

export interface ProxyOptions {
  /** Our address on a transport, as written in Via and Record-Route: the listener of that transport. */
  advertise: (transport: string) => SentBy;
  noAnswerSeconds: number;
}

export class SipProxy {
  /** Where calls that reached nobody go instead of a 480/486 (set by the composition root). */
  divert: Divert | null = null;
  /** The callee's own ring time (its mailbox's no_answer_seconds), else sip.no_answer_seconds. */
  ringSecondsFor: ((callee: string) => number | null) | null = null;
  /** Media anchoring for calls between phones (set by the composition root). */
  anchor: Anchor | null = null;
  private readonly dialogs = new DialogTable();
  private readonly forks = new Map<string, ForkContext>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly stack: SipStack,
    private readonly location: Location,
    private readonly calls: Calls,
    private readonly opts: () => ProxyOptions,
    private readonly isOurs: (host: string, port: number | null) => boolean,
    private readonly log: Logger,
    private readonly store: DialogStore,
  ) {
    // Dialogs whose BYE we never saw (a phone lost power) are forgotten after a day.
    this.sweeper = setInterval(() => {
      for (const d of this.dialogs.expire(Date.now() - 24 * 3600_000)) {
        d.media?.close();
        this.store.remove(d);
        if (d.call) this.calls.end(d.call, 'answered', 200, 'system');
      }
    }, 60_000);
    this.sweeper.unref();
  }

  /** Takes back the dialogs (and answered calls) that were up when the process last stopped. */
  async restore(): Promise<number> {
    const kept = await this.store.load();
    for (const d of kept) {
      this.dialogs.restore(d);
      if (d.call) this.calls.restore(d.call);
    }
    return kept.length;
  }

  stop(): void {
    clearInterval(this.sweeper);
    for (const f of this.forks.values()) clearTimeout(f.timer);
  }

  /** Routes an authenticated initial request to the callee's registered contacts. */
  routeInitial(req: SipRequest, server: ServerTransaction, flow: Flow, caller: string, callee: string): void {
    const bindings = this.location.lookup(callee);
    const isInvite = req.method === 'INVITE';
    const call = isInvite ? this.calls.start(req.callId, req.from.params.get('tag') ?? '', caller, callee) : null;
    const targets = bindings.map((b) => ({ b, flow: this.flowFor(peerOf(b)) })).filter((t): t is { b: Binding; flow: Flow } => !!t.flow);
    if (targets.length === 0) {
      if (call && this.divert?.(req, server, flow, call, 'unavailable')) return;
      server.respond(makeResponse(req, 480, 'Temporarily Unavailable', undefined));
      if (call) this.calls.end(call, 'unavailable', 480, null);
      return;
    }
    const ctx: ForkContext = { state: ForkState.Calling, server, request: req, caller: flowPeer(flow), branches: [], best: null, call, timer: undefined, flow, media: null };
    this.forks.set(server.key, ctx);
    if (isInvite) {
      ctx.timer = setTimeout(() => {
        if (answeredUpstream(ctx)) return;
        // The ring time is our decision: answer the caller now, then cancel the branches
        // (their 487s are absorbed).
        ctx.state = ForkState.NoAnswer;
        this.forks.delete(ctx.server.key);
        this.cancelBranches(ctx);
        ctx.media?.close();
        if (ctx.call && this.divert?.(req, ctx.server, flow, ctx.call, 'no_answer')) return;
        ctx.server.respond(makeResponse(req, 480, 'No Answer'));
        if (ctx.call) this.calls.end(ctx.call, 'no_answer', 480, null);
      }, (this.ringSecondsFor?.(callee) ?? this.opts().noAnswerSeconds) * 1000);
    }
    const send = (body: Buffer | null) => {
      for (const t of targets) {
        const out = this.forwardCopy(req, flow, t.flow, t.b.contact, t.b.path ?? [], true);
        if (body) out.body = body;
        const branch: Branch = { state: BranchState.Trying, request: out, flow: t.flow, peer: peerOf(t.b), tx: null };
        ctx.branches.push(branch);
        branch.tx = this.stack.sendRequest(out, t.flow, new BranchUser(this, ctx, branch));
      }
    };
    const anchoring = isInvite && req.body.length > 0 ? this.anchor?.(req, caller, flow, targets.map((t) => t.b)) : null;
    if (!anchoring) return send(null);
    anchoring.then(
      (media) => {
        ctx.media = media;
        // Given up while the relay opened (CANCEL, ring time): nothing goes out.
        if (ctx.state !== ForkState.Calling) {
          media.close();
          if (ctx.state === ForkState.Cancelled) this.finishUnanswered(ctx, makeResponse(req, 487, 'Request Terminated'));
          return;
        }
        send(media.rewrite('caller', req.body, flow.remoteAddress));
      },
      (err: Error) => {
        this.log.error({ call_id: req.callId, err: err.message }, `No media relay for the call from ${caller} to ${callee}: ${err.message}`);
        if (ctx.state !== ForkState.Calling) return;
        this.finishUnanswered(ctx, makeResponse(req, 503, 'Service Unavailable: no media relay'));
      },
    );
  }

  /** CANCEL for a pending INVITE (§16.10): answer it, cancel every branch. */
  cancel(req: SipRequest, server: ServerTransaction): void {
    const invite = this.stack.inviteFor(req);
    const ctx = invite ? this.forks.get(invite.key) : undefined;
    if (!invite || !ctx) {
      server.respond(makeResponse(req, 481));
      return;
    }
    server.respond(makeResponse(req, 200));
    if (answeredUpstream(ctx)) return;
    ctx.state = ForkState.Cancelled;
    this.cancelBranches(ctx);
  }

  /**
   * A request inside a dialog (To tag set), or an ACK for a 2xx. Routed by the dialog
   * table; null when no dialog matches (the caller answers 481).
   */
  routeInDialog(req: SipRequest, server: ServerTransaction | null, flow: Flow): boolean {
    const found = this.dialogs.match(req.callId, req.from.params.get('tag') ?? '', req.to.params.get('tag') ?? '');
    if (!found) return this.routeLoosely(req, server, flow);
    const { dialog: d, fromCaller } = found;
    const target = fromCaller ? d.callee : d.caller;
    const source = fromCaller ? d.caller : d.callee;
    // Only the dialog's own parties may use it.
    if (source.address !== flow.remoteAddress) {
      if (server) server.respond(makeResponse(req, 403, 'Forbidden: not a party of this dialog'));
      return true;
    }
    d.lastActivity = Date.now();
    // The party may have moved (new NAT port, new connection): follow its latest flow.
    Object.assign(source, flowPeer(flow));
    const targetFlow = this.flowFor(target) ?? this.reregisteredFlow(d, fromCaller);
    if (!targetFlow) {
      if (server) server.respond(makeResponse(req, 480, 'Temporarily Unavailable: party unreachable'));
      return true;
    }
    if (req.method === 'BYE') d.media?.close();
    if (req.method === 'BYE' && d.call) {
      this.calls.end(d.call, 'answered', 200, fromCaller ? 'caller' : 'callee');
      d.call = null;
    }
    this.relay(req, server, flow, targetFlow, d, fromCaller ? 'caller' : 'callee');
    return true;
  }

  /** Forwards an in-dialog request to the other party: ACK statelessly, the rest in a client transaction whose answers go back. */
  private relay(req: SipRequest, server: ServerTransaction | null, flow: Flow, targetFlow: Flow, d: ProxyDialog | null, from: AnchorSide | null): void {
    const out = this.forwardCopy(req, flow, targetFlow, req.uri, [], false);
    // An anchored call: a new offer (or a late answer in the ACK) names the relay too.
    if (d?.media && from && req.body.length > 0) out.body = d.media.rewrite(from, req.body, flow.remoteAddress);
    if (req.method === 'ACK' || !server) {
      this.stack.sendStateless(out, targetFlow);
      return;
    }
    this.stack.sendRequest(out, targetFlow, {
      response: (res) => {
        if (d?.media && from && res.status >= 200 && res.status < 300 && res.body.length > 0) res.body = d.media.rewrite(from === 'caller' ? 'callee' : 'caller', res.body, targetFlow.remoteAddress);
        this.relayResponse(server, res, d, req);
      },
      timeout: () => server.respond(makeResponse(req, 408)),
      transportError: () => server.respond(makeResponse(req, 503)),
    });
  }

  /**
   * The connection a party was reached on is gone (a restart closed every TCP and TLS
   * connection): the phone's registration since then, from the same address, is its flow now.
   */
  private reregisteredFlow(d: ProxyDialog, towardsCallee: boolean): Flow | undefined {
    const party = d.call ? (towardsCallee ? d.call.callee : d.call.caller) : undefined;
    if (!party) return undefined;
    const address = (towardsCallee ? d.callee : d.caller).address;
    for (const b of this.location.lookup(party)) {
      if (b.sourceAddress !== address) continue;
      const f = flowToBinding(this.stack, b);
      if (f) return f;
    }
    return undefined;
  }

  /**
   * An in-dialog request for a dialog this process does not know (its state was lost
   * with a crash, or it was set up through another node) is routed by its Route header
   * and Request-URI, as a record-routing proxy may (§16.4, Kamailio's loose_route()).
   * Only between our own phones, so that this is no open relay: the top Route names
   * us, the sender is a phone registered as the From user at the source address, and
   * the Request-URI is the Contact of a registered phone. False: answer 481.
   */
  private routeLoosely(req: SipRequest, server: ServerTransaction | null, flow: Flow): boolean {
    const top = req.routes[0];
    if (!top || !this.isOurs(top.uri.host, top.uri.port)) return false;
    const sender = req.from.uri.user;
    if (!sender || !this.location.lookup(sender).some((b) => b.sourceAddress === flow.remoteAddress)) return false;
    const targetUser = req.requestUri.user;
    const binding = targetUser ? this.location.lookup(targetUser).find((b) => b.contact === req.uri) : undefined;
    if (!binding) return false;
    const targetFlow = flowToBinding(this.stack, binding);
    if (!targetFlow) {
      if (server) server.respond(makeResponse(req, 480, 'Temporarily Unavailable: party unreachable'));
      return true;
    }
    this.log.info({ call_id: req.callId, method: req.method, from: sender, to: binding.aor }, `${req.method} for a dialog this server does not know routed by its Route header to ${binding.aor}`);
    this.relay(req, server, flow, targetFlow, null, null);
    return true;
  }

  private relayResponse(server: ServerTransaction, res: SipResponse, d: ProxyDialog | null, req: SipRequest): void {
    if (res.status === 100) return;
    res.removeFirstValue('via');
    server.respond(res);
    if (d && req.method === 'BYE' && res.status >= 200) {
      d.media?.close();
      this.dialogs.forget(d);
      this.store.remove(d);
    }
  }

  /** @internal (BranchUser) */
  branchResponse(ctx: ForkContext, branch: Branch, res: SipResponse): void {
    const status = res.status;
    if (ctx.media && status > 100 && status < 300 && res.body.length > 0) res.body = ctx.media.rewrite('callee', res.body, branch.flow.remoteAddress);
    if (status < 200) {
      if (branch.state === BranchState.Trying) branch.state = BranchState.Proceeding;
      else if (branch.state === BranchState.CancelPending) this.sendCancel(ctx, branch);
      if (status === 100 || answeredUpstream(ctx)) return;
      res.removeFirstValue('via');
      this.rememberDialog(ctx, branch, res, false);
      ctx.server.respond(res);
      return;
    }
    if (status < 300) {
      res.removeFirstValue('via');
      this.rememberDialog(ctx, branch, res, true);
      branch.state = BranchState.Completed;
      const first = !answeredUpstream(ctx);
      if (first) ctx.state = ForkState.Answered;
      clearTimeout(ctx.timer);
      ctx.server.respond(res);
      if (first) {
        if (ctx.call) this.calls.answered(ctx.call);
        for (const other of ctx.branches) if (other !== branch && other.state !== BranchState.Completed) this.requestCancel(ctx, other);
      }
      // For its last 32 s (RFC 6026 Accepted) the branch only relays retransmitted 2xx
      // upstream: that needs the caller's transaction and the relay, not the whole fork.
      if (branch.tx) branch.tx.user = new AnsweredBranch(ctx.server, ctx.media, branch.flow.remoteAddress);
      this.maybeFinish(ctx);
      return;
    }
    this.branchFinal(ctx, branch, res);
  }

  /** @internal (BranchUser) */
  branchFinal(ctx: ForkContext, branch: Branch, res: SipResponse): void {
    if (branch.state === BranchState.Completed) return;
    branch.state = BranchState.Completed;
    if (res.vias.length > 1) res.removeFirstValue('via');
    if (!ctx.best || rank(res.status) < rank(ctx.best.status)) ctx.best = res;
    this.maybeFinish(ctx);
  }

  /** No branch was sent (the relay could not open, or the caller cancelled meanwhile): answer the caller now. */
  private finishUnanswered(ctx: ForkContext, res: SipResponse): void {
    clearTimeout(ctx.timer);
    this.forks.delete(ctx.server.key);
    const cancelled = ctx.state === ForkState.Cancelled;
    ctx.state = ForkState.Completed;
    ctx.server.respond(res);
    if (ctx.call) this.calls.end(ctx.call, cancelled ? 'cancelled' : resultOf(res.status), res.status, cancelled ? 'caller' : null);
  }

  /** When every branch has a final response, answer the caller with the best one (§16.7.6). */
  private maybeFinish(ctx: ForkContext): void {
    if (!ctx.branches.every((b) => b.state === BranchState.Completed)) return;
    clearTimeout(ctx.timer);
    this.forks.delete(ctx.server.key);
    if (answeredUpstream(ctx)) return;
    ctx.media?.close();
    const cancelled = ctx.state === ForkState.Cancelled;
    ctx.state = ForkState.Completed;
    let res = ctx.best!;
    if (cancelled && res.status !== 487) res = withStatus(ctx.request, res, 487, 'Request Terminated');
    // Busy everywhere, or no phone could take it: the extension's own fallback (voicemail).
    if (!cancelled && ctx.call && ctx.request.method === 'INVITE' && (res.status === 486 || res.status === 600 || [408, 480, 503].includes(res.status))) {
      const reason: Unreached = res.status === 486 || res.status === 600 ? 'busy' : 'unavailable';
      if (this.divert?.(ctx.request, ctx.server, ctx.flow, ctx.call, reason)) return;
    }
    ctx.server.respond(res);
    if (ctx.call) {
      const result: CallResult = cancelled ? 'cancelled' : resultOf(res.status);
      this.calls.end(ctx.call, result, res.status, cancelled ? 'caller' : null);
    }
  }

  private cancelBranches(ctx: ForkContext): void {
    for (const b of ctx.branches) if (b.state !== BranchState.Completed) this.requestCancel(ctx, b);
  }

  /** §9.1: a CANCEL is sent only once the branch has seen a provisional response. */
  private requestCancel(ctx: ForkContext, b: Branch): void {
    if (b.state === BranchState.Proceeding) this.sendCancel(ctx, b);
    else if (b.state === BranchState.Trying) b.state = BranchState.CancelPending;
  }

  private sendCancel(ctx: ForkContext, b: Branch): void {
    b.state = BranchState.Cancelling;
    // §16.8 Timer C's spirit: a branch that never answers its CANCEL must not hold the caller.
    const guard = setTimeout(() => {
      if (b.state !== BranchState.Completed) this.branchFinal(ctx, b, makeResponse(b.request, 408, 'Request Timeout'));
    }, 64 * this.stack.timers.T1);
    guard.unref();
    this.stack.sendRequest(cancelFor(b.request), b.flow, { response: () => {}, timeout: () => {}, transportError: () => {} });
  }

  private rememberDialog(ctx: ForkContext, branch: Branch, res: SipResponse, confirmed: boolean): void {
    const method = ctx.request.method;
    if (method !== 'INVITE' && method !== 'SUBSCRIBE' && method !== 'REFER') return;
    const calleeTag = res.to.params.get('tag');
    if (!calleeTag) return;
    const callerTag = ctx.request.from.params.get('tag') ?? '';
    this.dialogs.remember({ callId: ctx.request.callId, callerTag, calleeTag, caller: ctx.caller, callee: branch.peer, call: ctx.call, media: ctx.media }, confirmed);
    // A confirmed call outlives a restart: its BYE must still find the other party, and its CDR be written.
    if (confirmed && method === 'INVITE') {
      const kept = this.dialogs.match(ctx.request.callId, callerTag, calleeTag);
      if (kept) this.store.save(kept.dialog);
    }
  }

  /**
   * The request as forwarded (§16.6): new Request-URI, our Route entries removed,
   * Max-Forwards decremented, Path as Route, Record-Route (for dialog-forming
   * requests) and our Via on top.
   */
  private forwardCopy(req: SipRequest, inFlow: Flow, outFlow: Flow | undefined, uri: string, path: string[], initial: boolean): SipRequest {
    const o = this.opts();
    // Credentials for this server are consumed here (RFC 3261 §22.3): the callee's phone
    // must not receive the caller's digest, which could be attacked offline.
    const headers = req.headers.filter((h) => h.name !== 'proxy-authorization').map((h) => ({ ...h }));
    const out = new SipRequest(req.method, uri, headers, req.body);
    // Drop Route entries that name us (loose routing, §16.4).
    while (out.routes.length && this.isOurs(out.routes[0]!.uri.host, out.routes[0]!.uri.port)) out.removeFirstValue('route');
    for (const p of [...path].reverse()) out.prepend('route', p);
    const mf = Number(req.get('max-forwards') ?? '70');
    out.set('max-forwards', String(Math.max(0, (Number.isFinite(mf) ? mf : 70) - 1)));
    const outTransport = (outFlow?.transport ?? 'udp').toUpperCase();
    if (initial && ['INVITE', 'SUBSCRIBE', 'REFER'].includes(req.method)) {
      const inT = inFlow.transport.toLowerCase();
      const outT = outTransport.toLowerCase();
      // Each entry names the listener of its own side's transport: a TLS phone's ACK and BYE
      // go to the TLS port, not to the UDP/TCP one.
      const rr = (t: string) => {
        const a = o.advertise(t);
        return `<${addressUri(a)};lr${inT !== outT ? ';r2=on' : ''}>`;
      };
      // RFC 5658 double record-routing when the two sides use different transports.
      if (inT !== outT) out.prepend('record-route', rr(inT));
      out.prepend('record-route', rr(outT));
    }
    const viaTransport = outTransport === 'WSS' ? 'WSS' : outTransport;
    out.prepend('via', viaValue({ ...o.advertise(outTransport.toLowerCase()), transport: viaTransport }, this.stack.newBranch()));
    return out;
  }

  private flowFor(p: Peer | undefined): Flow | undefined {
    return p ? flowToPeer(this.stack, p) : undefined;
  }
}

function flowPeer(f: Flow): Peer {
  return { transport: f.transport, address: f.remoteAddress, port: f.remotePort, flowId: f.id };
}

/** Lower is better when choosing the response to send upstream (§16.7.6). */
function rank(status: number): number {
  if (status >= 600) return 0;
  if (status === 486) return 1;
  if (status >= 400 && status < 500) return 10 + (status === 408 ? 50 : status === 487 ? 40 : status === 480 ? 30 : 0);
  if (status >= 300 && status < 400) return 5;
  if (status >= 500) return 100 + (status === 503 ? 50 : 0);
  return 1000;
}

function withStatus(req: SipRequest, from: SipResponse, status: number, reason: string): SipResponse {
  const toTag = from.to.params.get('tag') ?? undefined;
  return makeResponse(req, status, reason, toTag);
}

/** A branch's client transaction user while the fork is in progress. A class, not closures: closures would keep the whole routing scope. */
class BranchUser implements ClientTransactionUser {
  constructor(
    private readonly proxy: SipProxy,
    private readonly ctx: ForkContext,
    private readonly branch: Branch,
  ) {}

  response(res: SipResponse): void {
    this.proxy.branchResponse(this.ctx, this.branch, res);
  }

  timeout(): void {
    this.proxy.branchFinal(this.ctx, this.branch, makeResponse(this.branch.request, 408, 'Request Timeout'));
  }

  transportError(): void {
    this.proxy.branchFinal(this.ctx, this.branch, makeResponse(this.branch.request, 503, 'Service Unavailable'));
  }
}

/** An answered branch (RFC 6026 Accepted): a retransmitted 2xx goes upstream again, through the relay when anchored. */
class AnsweredBranch implements ClientTransactionUser {
  constructor(
    private readonly server: ServerTransaction,
    private readonly media: AnchoredMedia | null,
    private readonly calleeAddress: string,
  ) {}

  response(res: SipResponse): void {
    if (res.status < 200 || res.status >= 300) return;
    if (this.media && res.body.length > 0) res.body = this.media.rewrite('callee', res.body, this.calleeAddress);
    res.removeFirstValue('via');
    this.server.respond(res);
  }

  timeout(): void {}

  transportError(): void {}
}
