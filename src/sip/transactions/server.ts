// The two server transactions of RFC 3261 §17.2: INVITE (§17.2.1, with the
// RFC 6026 Accepted state) and non-INVITE (§17.2.2). They absorb request
// retransmissions, retransmit final responses over UDP, and tell the owner when done.
import type { SipRequest, SipResponse } from '../message.js';
import type { Flow } from '../transport.js';
import { Transaction, TransactionState, type TimerConfig } from './timers.js';

export interface ServerTransactionOwner {
  /** The transaction reached Terminated; drop it from the table. */
  terminated(tx: ServerTransaction): void;
  /** Timer H fired: the ACK for a non-2xx final response never came (§17.2.1). */
  ackTimeout?(tx: ServerTransaction): void;
  /**
   * Timer J (and L) for many transactions at once: end `tx` (expire()) after `ms`. Every
   * completed non-INVITE transaction over UDP, and every accepted INVITE one, waits the
   * same 64*T1, so the owner can keep them in one queue in expiry order instead of a timer each.
   */
  retire?(tx: ServerTransaction, ms: number): void;
}

export abstract class ServerTransaction extends Transaction<ServerTransaction> {
  /** The last response sent, to send again (`serialize()`: a string, see there why). */
  protected lastResponse: string | null = null;

  private req: SipRequest | null;

  constructor(
    key: string,
    request: SipRequest,
    public flow: Flow,
    protected readonly owner: ServerTransactionOwner,
    protected readonly t: TimerConfig,
    initial: TransactionState,
  ) {
    super(key, initial, owner);
    this.req = request;
  }

  /** The request, until a final response is sent. */
  get request(): SipRequest {
    if (!this.req) throw new Error(`transaction ${this.key} is complete; its request was released`);
    return this.req;
  }

  /**
   * After the final response only the response bytes are needed (to answer
   * retransmissions for up to 32 s): letting the parsed request go keeps a busy
   * server's heap small.
   */
  protected release(): void {
    this.req = null;
  }

  /** The TU answers the request. */
  abstract respond(response: SipResponse): void;

  /**
   * RFC 3261 §26.3.2.4: "UAs and proxy servers SHOULD challenge questionable requests with only
   * a single 401 (Unauthorized) or 407 (Proxy Authentication Required), forgoing the normal
   * response retransmission algorithm, and thus behaving statelessly towards unauthenticated
   * requests." The final response goes out once and the transaction ends at once: a
   * retransmitted request is a new one and is answered anew, and nothing is kept for 32 s
   * per challenge (a flood of unauthenticated requests costs no memory). An INVITE's response
   * should carry a `statelessTag()` (ids.ts): the stack absorbs the ACK for it.
   */
  respondStatelessly(response: SipResponse): void {
    if (response.status < 200) throw new Error('only a final response can be sent statelessly');
    if (this.state !== TransactionState.Trying && this.state !== TransactionState.Proceeding) return;
    this.flow.send(response.toBuffer());
    this.release();
    this.terminate();
  }

  /** A retransmission of the request (or, for INVITE, the ACK) arrived. */
  abstract receiveRequest(request: SipRequest): void;

  protected send(response: SipResponse): void {
    this.lastResponse = response.serialize();
    this.flow.send(Buffer.from(this.lastResponse, 'latin1'));
  }

  /** Sends the last response again (a retransmitted request, or Timer G). */
  protected resend(): void {
    if (this.lastResponse !== null) this.flow.send(Buffer.from(this.lastResponse, 'latin1'));
  }

}

export class InviteServerTransaction extends ServerTransaction {
  constructor(key: string, request: SipRequest, flow: Flow, owner: ServerTransactionOwner, t: TimerConfig) {
    super(key, request, flow, owner, t, TransactionState.Proceeding);
  }

  respond(response: SipResponse): void {
    const status = response.status;
    switch (this.state) {
      case TransactionState.Proceeding:
        this.send(response);
        if (status < 200) return;
        if (status < 300) {
          // RFC 6026 §8.5: "If, while in the 'Proceeding' state, the TU passes a 2xx response
          // to the server transaction, the server transaction MUST pass this response to the
          // transport layer for transmission ... and MUST transition to the 'Accepted' state."
          this.state = TransactionState.Accepted;
          // Accepted only absorbs retransmitted INVITEs (a further 2xx from the TU is sent
          // as given): neither the request nor the 2xx is needed again for its 32 s.
          this.release();
          this.lastResponse = null;
          // Timer L (64*T1) is the same for every such transaction: the owner's queue, as Timer J.
          if (this.owner.retire) this.owner.retire(this, 64 * this.t.T1);
          else this.timers.start('L', 64 * this.t.T1, () => this.terminate());
          return;
        }
        // §17.2.1: "the server transaction MUST ... enter the 'Completed' state. For unreliable
        // transports, timer G is set to fire in T1 seconds ... timer H MUST be set to fire in 64*T1".
        this.state = TransactionState.Completed;
        if (!this.flow.reliable) this.startG(this.t.T1);
        this.timers.start('H', 64 * this.t.T1, () => {
          this.owner.ackTimeout?.(this);
          this.terminate();
        });
        return;
      case TransactionState.Accepted:
        // RFC 6026 §8.7: further 2xx responses from the TU are passed to the transport.
        if (status >= 200 && status < 300) this.flow.send(response.toBuffer());
        return;
      default:
        return;
    }
  }

  private startG(interval: number): void {
    this.timers.start('G', interval, () => {
      if (this.state !== TransactionState.Completed || this.lastResponse === null) return;
      this.resend();
      this.startG(Math.min(2 * interval, this.t.T2));
    });
  }

  receiveRequest(request: SipRequest): void {
    if (request.method === 'ACK') {
      if (this.state === TransactionState.Completed) {
        // §17.2.1: "If an ACK is received while the server transaction is in the 'Completed'
        // state, the server transaction MUST transition to the 'Confirmed' state."
        this.state = TransactionState.Confirmed;
        this.timers.stop('G');
        this.timers.stop('H');
        this.timers.start('I', this.flow.reliable ? 0 : this.t.T4, () => this.terminate());
      }
      return;
    }
    // A retransmitted INVITE: "the most recent provisional response ... MUST be passed to the
    // transport layer for retransmission" (Proceeding); in Completed, the final response.
    if (this.state === TransactionState.Proceeding || this.state === TransactionState.Completed) this.resend();
  }
}

export class NonInviteServerTransaction extends ServerTransaction {
  constructor(key: string, request: SipRequest, flow: Flow, owner: ServerTransactionOwner, t: TimerConfig) {
    super(key, request, flow, owner, t, TransactionState.Trying);
  }

  respond(response: SipResponse): void {
    if (this.state === TransactionState.Completed || this.state === TransactionState.Terminated) return;
    this.send(response);
    if (response.status < 200) {
      this.state = TransactionState.Proceeding;
      return;
    }
    // §17.2.2: "the server transaction MUST enter the 'Completed' state, and ... set Timer J to
    // fire in 64*T1 seconds for unreliable transports, and zero seconds for reliable transports."
    this.state = TransactionState.Completed;
    this.release();
    if (this.flow.reliable) this.terminate();
    else if (this.owner.retire) this.owner.retire(this, 64 * this.t.T1);
    else this.timers.start('J', 64 * this.t.T1, () => this.terminate());
  }

  receiveRequest(): void {
    if (this.state === TransactionState.Proceeding || this.state === TransactionState.Completed) this.resend();
  }
}
