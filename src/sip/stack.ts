// The SIP stack's entry point: transports below, transaction tables here, and one
// delegate above (the transaction user: registrar, proxy). It applies RFC 3581
// (received/rport), matches requests and responses to transactions (§17.1.3, §17.2.3,
// with the RFC 2543 fallback), and answers unparseable requests with a 400 that
// names the problem. It knows nothing of extensions or phones.
import { makeResponse, type AnyMessage, type Header, SipRequest, SipResponse } from './message.js';
import { SipMessageError } from './parser.js';
import { Transports, type Flow, type ListenSpec } from './transport.js';
import {
  InviteClientTransaction,
  NonInviteClientTransaction,
  type ClientTransaction,
  type ClientTransactionUser,
} from './transactions/client.js';
import { InviteServerTransaction, NonInviteServerTransaction, type ServerTransaction } from './transactions/server.js';
import { DEFAULT_TIMERS, type TimerConfig } from './transactions/timers.js';
import { RetireQueue, type Retiring } from './transactions/retire-queue.js';
import { splitList } from './header-values.js';
import { MAGIC_COOKIE, isStatelessTag, newBranch } from './ids.js';

export interface StackDelegate {
  /**
   * Asked once for each new request before a transaction exists for it. False drops the
   * request: no transaction, no answer (a scanner, a source banned this instant). Asking
   * first is what keeps a dropped request from leaving a transaction that nothing ends.
   */
  admit?(req: SipRequest, flow: Flow): boolean;
  /** A new request (not a retransmission). `tx` is null for an ACK that matches no transaction (ACK for a 2xx). */
  request(req: SipRequest, tx: ServerTransaction | null, flow: Flow): void;
  /** A response that matches no client transaction (to be forwarded statelessly or dropped). */
  strayResponse?(res: SipResponse, flow: Flow): void;
  /** An INVITE server transaction's Timer H fired (no ACK). */
  ackTimeout?(tx: ServerTransaction): void;
}

export interface StackCounters {
  requestsIn: number;
  responsesIn: number;
  retransmissionsAbsorbed: number;
  parseErrors: number;
  /** New requests the delegate refused to admit (dropped without a transaction). */
  requestsRefused: number;
  /** ACKs for challenges sent statelessly (respondStatelessly), ended in the stack. */
  challengeAcksAbsorbed: number;
  serverTransactions: number;
  clientTransactions: number;
}


export class SipStack {
  readonly transports: Transports;
  readonly counters: StackCounters = {
    requestsIn: 0,
    responsesIn: 0,
    retransmissionsAbsorbed: 0,
    parseErrors: 0,
    requestsRefused: 0,
    challengeAcksAbsorbed: 0,
    serverTransactions: 0,
    clientTransactions: 0,
  };
  private readonly server = new Map<string, ServerTransaction>();
  private readonly client = new Map<string, ClientTransaction>();
  private delegate: StackDelegate | undefined;
  /** Transactions that only wait out Timer J, K, L or M: one queue per wait, in expiry order. */
  private readonly retiring = new Map<number, RetireQueue>();
  private readonly serverOwner = {
    terminated: (tx: ServerTransaction) => {
      if (this.server.get(tx.key) === tx) this.server.delete(tx.key);
    },
    ackTimeout: (tx: ServerTransaction) => this.delegate?.ackTimeout?.(tx),
    retire: (tx: ServerTransaction, ms: number) => this.retire(tx, ms),
  };
  private readonly clientOwner = {
    terminated: (tx: ClientTransaction) => {
      if (this.client.get(tx.key) === tx) this.client.delete(tx.key);
    },
    retire: (tx: ClientTransaction, ms: number) => this.retire(tx, ms),
  };

  constructor(readonly timers: TimerConfig = DEFAULT_TIMERS) {
    this.transports = new Transports({
      message: (m, flow) => this.receive(m, flow),
      parseError: (err, flow) => this.answerParseError(err, flow),
    });
  }

  setDelegate(d: StackDelegate): void {
    this.delegate = d;
  }

  listen(specs: ListenSpec[]): Promise<void> {
    return this.transports.listen(specs);
  }

  close(): Promise<void> {
    for (const q of this.retiring.values()) q.clear();
    this.retiring.clear();
    for (const tx of this.server.values()) tx.dispose();
    for (const tx of this.client.values()) tx.dispose();
    this.server.clear();
    this.client.clear();
    return this.transports.close();
  }

  newBranch(): string {
    return newBranch();
  }

  get activeTransactions(): { server: number; client: number } {
    return { server: this.server.size, client: this.client.size };
  }

  /** Sends a request through a new client transaction. */
  sendRequest(req: SipRequest, flow: Flow, user: ClientTransactionUser): ClientTransaction {
    const branch = req.topVia.branch ?? '';
    const key = `${branch}|${req.method}`;
    const tx =
      req.method === 'INVITE'
        ? new InviteClientTransaction(key, req, flow, user, this.clientOwner, this.timers)
        : new NonInviteClientTransaction(key, req, flow, user, this.clientOwner, this.timers);
    this.client.set(key, tx);
    this.counters.clientTransactions++;
    tx.start();
    return tx;
  }

  /** Sends without a transaction (ACK for 2xx, forwarded 2xx, stateless replies). */
  sendStateless(message: AnyMessage, flow: Flow): boolean {
    return flow.send(message.toBuffer());
  }

  /** The INVITE server transaction a CANCEL refers to (§9.2). */
  inviteFor(cancel: SipRequest): ServerTransaction | undefined {
    return this.server.get(serverKey(cancel, 'INVITE'));
  }

  private receive(m: AnyMessage, flow: Flow): void {
    if (m instanceof SipResponse) {
      this.counters.responsesIn++;
      // §18.1.2: a response whose top Via is not ours is discarded; the topmost Via names us.
      const branch = m.vias[0]?.branch ?? '';
      const tx = this.client.get(`${branch}|${m.cseq.method}`);
      if (tx) tx.receiveResponse(m);
      else this.delegate?.strayResponse?.(m, flow);
      return;
    }
    this.counters.requestsIn++;
    stampReceived(m, flow);
    const key = serverKey(m, m.method === 'ACK' ? 'INVITE' : m.method);
    const existing = this.server.get(key);
    if (existing) {
      this.counters.retransmissionsAbsorbed++;
      existing.receiveRequest(m);
      return;
    }
    // The ACK for a challenge sent statelessly (respondStatelessly): its transaction is gone
    // by design, and the ACK ends here (§17.1.1.3: it is hop by hop, nothing to forward).
    if (m.method === 'ACK' && isStatelessTag(m.to.params.get('tag'))) {
      this.counters.challengeAcksAbsorbed++;
      return;
    }
    if (this.delegate?.admit && !this.delegate.admit(m, flow)) {
      this.counters.requestsRefused++;
      return;
    }
    if (m.method === 'ACK') {
      this.delegate?.request(m, null, flow);
      return;
    }
    const tx =
      m.method === 'INVITE'
        ? new InviteServerTransaction(key, m, flow, this.serverOwner, this.timers)
        : new NonInviteServerTransaction(key, m, flow, this.serverOwner, this.timers);
    this.server.set(key, tx);
    this.counters.serverTransactions++;
    this.delegate?.request(m, tx, flow);
  }

  private retire(tx: Retiring, ms: number): void {
    let q = this.retiring.get(ms);
    if (!q) this.retiring.set(ms, (q = new RetireQueue(ms)));
    q.add(tx);
  }

  private answerParseError(err: SipMessageError, flow: Flow): void {
    this.counters.parseErrors++;
    const partial = err.request;
    if (!partial || partial.method === 'ACK') return;
    // A response needs a Via to travel back; copy whatever else identifies the request.
    if (!partial.headers.some((h) => h.name === 'via')) return;
    // The reason phrase names the problem; it must stay one printable line.
    const reason = err.message.replace(/[^\x20-\x7e]/g, '?').slice(0, 120);
    const req = new SipRequest(partial.method, 'sip:invalid', partial.headers as Header[]);
    try {
      stampReceived(req, flow);
    } catch {
      /* a Via we cannot parse: answer to the flow as is */
    }
    const res = makeResponse(req, err.status, reason);
    if (err.status === 505) res.headers.push({ name: 'supported', value: '' });
    flow.send(res.toBuffer());
  }
}

/**
 * §17.2.3 matching key; RFC 2543 requests (no magic cookie) key on dialog and CSeq. Built
 * with join(), which makes one flat string: a template literal makes a chain of pieces
 * whose branch is a slice of the whole message's text, and a completed transaction keeps
 * its key for 32 s, so that text (a REGISTER's 700 bytes) would stay with it.
 */
function serverKey(req: SipRequest, method: string): string {
  const via = req.topVia;
  if (via.branch?.startsWith(MAGIC_COOKIE)) return [via.branch, via.host, via.port ?? 5060, method].join('|');
  return ['2543', req.callId, req.cseq.seq, req.from.params.get('tag') ?? '', req.uri, req.getAll('via')[0], method].join('|');
}

/**
 * RFC 3261 §18.2.1 and RFC 3581 §4: note where the request really came from in its
 * top Via, so responses (and the registrar) use the source address and port.
 */
function stampReceived(req: SipRequest, flow: Flow): void {
  const via = req.topVia;
  const address = flow.remoteAddress;
  const needReceived = via.host !== address.toLowerCase();
  const wantsRport = via.params.has('rport');
  if (!needReceived && !wantsRport) return;
  const line = req.get('via')!;
  const top = line.indexOf(',') < 0 ? line : splitList(line)[0]!;
  let text = via.params.has('received') ? top.replace(/;\s*received=[^;,\s]*/i, '') : top;
  if (wantsRport) text = text.replace(/;\s*rport(=\d*)?/i, `;rport=${flow.remotePort}`);
  text += `;received=${address}`;
  const params = new Map(via.params);
  if (wantsRport) params.set('rport', String(flow.remotePort));
  params.delete('received'); // it goes last, as in the text
  params.set('received', address);
  req.replaceTopVia(text, { ...via, params });
}
