// A record-routing, transaction- and dialog-stateful proxy (RFC 3261 §16) for calls
// and other requests between extensions. Initial requests fork in parallel to every
// registered contact (first 2xx wins, the other branches are CANCELled); in-dialog
// requests are routed by the dialog table to the flow each party uses, so phones
// behind NAT are reached; ACK for 2xx is forwarded statelessly.
import type { Logger } from 'pino';
import { makeResponse, SipRequest, type SipResponse, type Header } from '../sip/message.js';
import type { SipStack } from '../sip/stack.js';
import type { Flow } from '../sip/transport.js';
import { flowToPeer, peerOf, type Peer } from './reach.js';
import type { ClientTransaction } from '../sip/transactions/client.js';
import type { ServerTransaction } from '../sip/transactions/server.js';
import { formatHost } from '../sip/uri.js';
import type { Binding, Location } from './location.js';
import { resultOf, type Call, type CallResult, type Calls } from './calls.js';


interface Dialog {
  callId: string;
  callerTag: string;
  calleeTag: string;
  caller: Peer;
  callee: Peer;
  call: Call | null;
  lastActivity: number;
}

interface Branch {
  tx: ClientTransaction | null;
  request: SipRequest;
  flow: Flow;
  peer: Peer;
  provisional: boolean;
  final: number;
  cancelWanted: boolean;
  cancelled: boolean;
}

interface ForkContext {
  server: ServerTransaction;
  request: SipRequest;
  caller: Peer;
  branches: Branch[];
  best: SipResponse | null;
  done: boolean;
  cancelled: boolean;
  noAnswer: boolean;
  call: Call | null;
  timer: NodeJS.Timeout | undefined;
}

export interface ProxyOptions {
  /** Our address as written in Via and Record-Route. */
  host: string;
  port: number;
  noAnswerSeconds: number;
}

export class Proxy {
  private readonly dialogs = new Map<string, Dialog>();
  private readonly forks = new Map<string, ForkContext>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly stack: SipStack,
    private readonly location: Location,
    private readonly calls: Calls,
    private readonly opts: () => ProxyOptions,
    private readonly isOurs: (host: string, port: number | null) => boolean,
    private readonly log: Logger,
  ) {
    // Dialogs whose BYE we never saw (a phone lost power) are forgotten after a day.
    this.sweeper = setInterval(() => {
      const cutoff = Date.now() - 24 * 3600_000;
      for (const [k, d] of this.dialogs) {
        if (d.lastActivity < cutoff) {
          this.dialogs.delete(k);
          if (d.call) this.calls.end(d.call, 'answered', 200, 'system');
        }
      }
    }, 60_000);
    this.sweeper.unref();
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
      server.respond(makeResponse(req, 480, 'Temporarily Unavailable', undefined));
      if (call) this.calls.end(call, 'unavailable', 480, null);
      return;
    }
    const ctx: ForkContext = {
      server,
      request: req,
      caller: flowPeer(flow),
      branches: [],
      best: null,
      done: false,
      cancelled: false,
      noAnswer: false,
      call,
      timer: undefined,
    };
    this.forks.set(server.key, ctx);
    if (isInvite) {
      ctx.timer = setTimeout(() => {
        if (ctx.done) return;
        // The ring time is our decision: answer the caller now, then cancel the branches
        // (their 487s are absorbed).
        ctx.noAnswer = true;
        ctx.done = true;
        this.forks.delete(ctx.server.key);
        ctx.server.respond(makeResponse(req, 480, 'No Answer'));
        if (ctx.call) this.calls.end(ctx.call, 'no_answer', 480, null);
        this.cancelBranches(ctx);
      }, this.opts().noAnswerSeconds * 1000);
    }
    for (const t of targets) {
      const out = this.forwardCopy(req, flow, t.flow, t.b.contact, t.b.path ?? [], true);
      const branch: Branch = { tx: null, request: out, flow: t.flow, peer: peerOf(t.b), provisional: false, final: 0, cancelWanted: false, cancelled: false };
      ctx.branches.push(branch);
      branch.tx = this.stack.sendRequest(out, t.flow, {
        response: (res) => this.branchResponse(ctx, branch, res),
        timeout: () => this.branchFinal(ctx, branch, makeResponse(out, 408, 'Request Timeout')),
        transportError: () => this.branchFinal(ctx, branch, makeResponse(out, 503, 'Service Unavailable')),
      });
    }
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
    if (ctx.done) return;
    ctx.cancelled = true;
    this.cancelBranches(ctx);
  }

  /**
   * A request inside a dialog (To tag set), or an ACK for a 2xx. Routed by the dialog
   * table; null when no dialog matches (the caller answers 481).
   */
  routeInDialog(req: SipRequest, server: ServerTransaction | null, flow: Flow): boolean {
    const fromTag = req.from.params.get('tag') ?? '';
    const toTag = req.to.params.get('tag') ?? '';
    const d = this.dialogs.get(dialogKey(req.callId, fromTag, toTag)) ?? this.dialogs.get(dialogKey(req.callId, toTag, fromTag));
    if (!d) return false;
    const fromCaller = d.callerTag === fromTag;
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
    const targetFlow = this.flowFor(target);
    if (!targetFlow) {
      if (server) server.respond(makeResponse(req, 480, 'Temporarily Unavailable: party unreachable'));
      return true;
    }
    const out = this.forwardCopy(req, flow, targetFlow, req.uri, [], false);
    if (req.method === 'ACK') {
      this.stack.sendStateless(out, targetFlow);
      return true;
    }
    if (req.method === 'BYE' && d.call) {
      this.calls.end(d.call, 'answered', 200, fromCaller ? 'caller' : 'callee');
      d.call = null;
    }
    this.stack.sendRequest(out, targetFlow, {
      response: (res, tx) => this.relayResponse(server!, res, tx, d, req),
      timeout: () => server!.respond(makeResponse(req, 408)),
      transportError: () => server!.respond(makeResponse(req, 503)),
    });
    return true;
  }

  private relayResponse(server: ServerTransaction, res: SipResponse, _tx: ClientTransaction, d: Dialog, req: SipRequest): void {
    if (res.status === 100) return;
    res.removeFirstValue('via');
    server.respond(res);
    if (req.method === 'BYE' && res.status >= 200) this.forgetDialog(d);
  }

  private branchResponse(ctx: ForkContext, branch: Branch, res: SipResponse): void {
    const status = res.status;
    if (status < 200) {
      branch.provisional = true;
      if (branch.cancelWanted && !branch.cancelled) this.sendCancel(ctx, branch);
      if (status === 100 || ctx.done) return;
      res.removeFirstValue('via');
      this.rememberDialog(ctx, branch, res, false);
      ctx.server.respond(res);
      return;
    }
    if (status < 300) {
      res.removeFirstValue('via');
      this.rememberDialog(ctx, branch, res, true);
      branch.final = status;
      const first = !ctx.done;
      ctx.done = true;
      clearTimeout(ctx.timer);
      ctx.server.respond(res);
      if (first) {
        if (ctx.call) this.calls.answered(ctx.call);
        for (const other of ctx.branches) if (other !== branch && !other.final) this.requestCancel(ctx, other);
      }
      this.maybeFinish(ctx);
      return;
    }
    this.branchFinal(ctx, branch, res);
  }

  private branchFinal(ctx: ForkContext, branch: Branch, res: SipResponse): void {
    if (branch.final) return;
    branch.final = res.status;
    if (res.vias.length > 1) res.removeFirstValue('via');
    if (!ctx.best || rank(res.status) < rank(ctx.best.status)) ctx.best = res;
    this.maybeFinish(ctx);
  }

  /** When every branch has a final response, answer the caller with the best one (§16.7.6). */
  private maybeFinish(ctx: ForkContext): void {
    if (!ctx.branches.every((b) => b.final)) return;
    clearTimeout(ctx.timer);
    this.forks.delete(ctx.server.key);
    if (ctx.done) return;
    ctx.done = true;
    let res = ctx.best!;
    if (ctx.cancelled && res.status !== 487) res = withStatus(ctx.request, res, 487, 'Request Terminated');
    ctx.server.respond(res);
    if (ctx.call) {
      const result: CallResult = ctx.cancelled ? 'cancelled' : resultOf(res.status);
      this.calls.end(ctx.call, result, res.status, ctx.cancelled ? 'caller' : null);
    }
  }

  private cancelBranches(ctx: ForkContext): void {
    for (const b of ctx.branches) if (!b.final) this.requestCancel(ctx, b);
  }

  /** §9.1: a CANCEL is sent only once the branch has seen a provisional response. */
  private requestCancel(ctx: ForkContext, b: Branch): void {
    b.cancelWanted = true;
    if (b.provisional && !b.cancelled) this.sendCancel(ctx, b);
  }

  private sendCancel(ctx: ForkContext, b: Branch): void {
    b.cancelled = true;
    // §16.8 Timer C's spirit: a branch that never answers its CANCEL must not hold the caller.
    const guard = setTimeout(() => {
      if (!b.final) this.branchFinal(ctx, b, makeResponse(b.request, 408, 'Request Timeout'));
    }, 64 * this.stack.timers.T1);
    guard.unref();
    const r = b.request;
    const headers: Header[] = [
      { name: 'via', value: r.getAll('via')[0]! },
      { name: 'max-forwards', value: '70' },
      { name: 'from', value: r.get('from')! },
      { name: 'to', value: r.get('to')! },
      { name: 'call-id', value: r.callId },
      { name: 'cseq', value: `${r.cseq.seq} CANCEL` },
      ...r.headers.filter((h) => h.name === 'route'),
    ];
    const cancel = new SipRequest('CANCEL', r.uri, headers);
    this.stack.sendRequest(cancel, b.flow, { response: () => {}, timeout: () => {}, transportError: () => {} });
  }

  private rememberDialog(ctx: ForkContext, branch: Branch, res: SipResponse, confirmed: boolean): void {
    const method = ctx.request.method;
    if (method !== 'INVITE' && method !== 'SUBSCRIBE' && method !== 'REFER') return;
    const callerTag = ctx.request.from.params.get('tag') ?? '';
    const calleeTag = res.to.params.get('tag');
    if (!calleeTag) return;
    const key = dialogKey(ctx.request.callId, callerTag, calleeTag);
    const existing = this.dialogs.get(key);
    if (existing) {
      if (confirmed) {
        // The branch that answered owns the dialog, whatever rang before under this tag.
        existing.callee = { ...branch.peer };
        if (ctx.call) existing.call = ctx.call;
      }
      return;
    }
    this.dialogs.set(key, {
      callId: ctx.request.callId,
      callerTag,
      calleeTag,
      caller: { ...ctx.caller },
      callee: { ...branch.peer },
      call: method === 'INVITE' ? ctx.call : null,
      lastActivity: Date.now(),
    });
  }

  private forgetDialog(d: Dialog): void {
    this.dialogs.delete(dialogKey(d.callId, d.callerTag, d.calleeTag));
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
      const rr = (t: string) => `<sip:${formatHost(o.host)}:${o.port};transport=${t};lr${inT !== outT ? ';r2=on' : ''}>`;
      // RFC 5658 double record-routing when the two sides use different transports.
      if (inT !== outT) out.prepend('record-route', rr(inT));
      out.prepend('record-route', rr(outT));
    }
    const viaTransport = outTransport === 'WSS' ? 'WSS' : outTransport;
    out.prepend('via', `SIP/2.0/${viaTransport} ${formatHost(o.host)}:${o.port};branch=${this.stack.newBranch()};rport`);
    return out;
  }

  private flowFor(p: Peer | undefined): Flow | undefined {
    return p ? flowToPeer(this.stack, p) : undefined;
  }
}

function dialogKey(callId: string, a: string, b: string): string {
  return `${callId}|${a}|${b}`;
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
