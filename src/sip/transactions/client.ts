// The two client transactions of RFC 3261 §17.1: INVITE (§17.1.1, with the RFC 6026
// Accepted state) and non-INVITE (§17.1.2). They retransmit over UDP (timers A and E),
// give up after 64*T1 (B and F), build the ACK for non-2xx finals, and absorb
// retransmitted responses.
import type { SipRequest, SipResponse } from '../message.js';
import { ackForNon2xx } from '../requests.js';
import type { Flow } from '../transport.js';
import { Transaction, TransactionState, type TimerConfig } from './timers.js';

export interface ClientTransactionUser {
  response(response: SipResponse, tx: ClientTransaction): void;
  /** Timer B or F: no final response in time (the TU acts as if a 408 arrived). */
  timeout(tx: ClientTransaction): void;
  /** The transport could not send (connection gone). */
  transportError(tx: ClientTransaction): void;
}

export interface ClientTransactionOwner {
  terminated(tx: ClientTransaction): void;
  /**
   * Timer K and M for many transactions at once: end `tx` (expire()) after `ms`. Every
   * transaction of one kind waits the same time, so the owner can keep them in one queue
   * in expiry order instead of a timer each (see the server side's retire).
   */
  retire?(tx: ClientTransaction, ms: number): void;
}

/** The user of a transaction that can tell it nothing more (non-INVITE, Completed). */
const DONE_USER: ClientTransactionUser = { response() {}, timeout() {}, transportError() {} };

export abstract class ClientTransaction extends Transaction<ClientTransaction> {
  private req: SipRequest | null;
  /** The request as sent (`serialize()`: a string, see there why), until released. */
  private sent: string | null;

  constructor(
    key: string,
    request: SipRequest,
    readonly flow: Flow,
    /**
     * Told of responses, timeouts and transport errors. A TU whose own work on the transaction
     * is done may hand it a slimmer user for the rest of its life (the proxy does once a
     * branch is answered), so that what it kept for the work can go.
     */
    public user: ClientTransactionUser,
    protected readonly owner: ClientTransactionOwner,
    protected readonly t: TimerConfig,
    initial: TransactionState,
  ) {
    super(key, initial, owner);
    this.req = request;
    this.sent = request.serialize();
  }

  /** The request, until the transaction only waits out its last timer. */
  get request(): SipRequest {
    if (!this.req) throw new Error(`transaction ${this.key} is complete; its request was released`);
    return this.req;
  }

  /** The request's bytes, to send or send again (empty once released: nothing is retransmitted then). */
  protected get wire(): Buffer {
    return this.sent === null ? EMPTY : Buffer.from(this.sent, 'latin1');
  }

  abstract start(): void;
  abstract receiveResponse(response: SipResponse): void;

  protected transmit(): boolean {
    if (this.flow.send(this.wire)) return true;
    this.user.transportError(this);
    this.terminate();
    return false;
  }

  /**
   * The transaction will send nothing more and only absorbs retransmitted responses until
   * `ms` have passed (`done`: and tells its user nothing more either). Letting the parsed
   * request, its bytes and the user's state go keeps a busy server's heap small: tens of
   * thousands of transactions wait like this for up to 32 s.
   */
  protected retireAfter(ms: number, done: boolean): void {
    this.req = null;
    this.sent = null;
    if (done) this.user = DONE_USER;
    if (ms === 0) this.terminate();
    else if (this.owner.retire) this.owner.retire(this, ms);
    else this.timers.start('retire', ms, () => this.terminate());
  }
}

const EMPTY = Buffer.alloc(0);

export class InviteClientTransaction extends ClientTransaction {
  constructor(key: string, request: SipRequest, flow: Flow, user: ClientTransactionUser, owner: ClientTransactionOwner, t: TimerConfig) {
    super(key, request, flow, user, owner, t, TransactionState.Calling);
  }

  start(): void {
    if (!this.transmit()) return;
    // §17.1.1.2: "If an unreliable transport is being used, the client transaction MUST
    // start timer A with a value of T1 ... MUST start timer B with a value of 64*T1".
    if (!this.flow.reliable) this.startA(this.t.T1);
    this.timers.start('B', 64 * this.t.T1, () => {
      if (this.state === TransactionState.Calling) {
        this.user.timeout(this);
        this.terminate();
      }
    });
  }

  private startA(interval: number): void {
    this.timers.start('A', interval, () => {
      if (this.state !== TransactionState.Calling) return;
      this.flow.send(this.wire);
      this.startA(2 * interval);
    });
  }

  receiveResponse(response: SipResponse): void {
    const status = response.status;
    switch (this.state) {
      case TransactionState.Calling:
      case TransactionState.Proceeding:
        this.timers.stop('A');
        if (status < 200) {
          // Timer B only guards the Calling state: once the callee rings, the TU decides how
          // long to wait (the proxy's ring time, RFC 3261 §16.8 Timer C).
          this.timers.stop('B');
          this.state = TransactionState.Proceeding;
          this.user.response(response, this);
          return;
        }
        if (status < 300) {
          // RFC 6026 §8.4: on a 2xx the transaction "MUST transition to the 'Accepted' state,
          // and Timer M MUST be set to fire in 64*T1"; the 2xx goes to the TU.
          this.state = TransactionState.Accepted;
          this.timers.stop('B');
          this.user.response(response, this);
          // Accepted passes retransmitted 2xx to the TU (the user stays) and sends nothing itself.
          if (this.state === TransactionState.Accepted) this.retireAfter(64 * this.t.T1, false);
          return;
        }
        // §17.1.1.2: "the client transaction MUST transition to the 'Completed' state ... MUST
        // generate an ACK request ... timer D ... at least 32 seconds for unreliable transports".
        this.state = TransactionState.Completed;
        this.timers.stop('B');
        this.sendAck(response);
        this.user.response(response, this);
        // Completed answers retransmitted finals with the ACK alone: the user hears nothing more.
        this.user = DONE_USER;
        this.timers.start('D', this.flow.reliable ? 0 : Math.max(32_000, 64 * this.t.T1), () => this.terminate());
        return;
      case TransactionState.Completed:
        // "Any retransmissions of the final response ... MUST cause the ACK to be re-passed".
        if (status >= 300) this.sendAck(response);
        return;
      case TransactionState.Accepted:
        // RFC 6026 §8.4: retransmitted 2xx go to the TU (a proxy forwards them upstream).
        if (status >= 200 && status < 300) this.user.response(response, this);
        return;
      default:
        return;
    }
  }

  /** §17.1.1.3: the ACK for a non-2xx final response, built from the original INVITE. */
  private sendAck(response: SipResponse): void {
    this.flow.send(ackForNon2xx(this.request, response).toBuffer());
  }
}

export class NonInviteClientTransaction extends ClientTransaction {
  constructor(key: string, request: SipRequest, flow: Flow, user: ClientTransactionUser, owner: ClientTransactionOwner, t: TimerConfig) {
    super(key, request, flow, user, owner, t, TransactionState.Trying);
  }

  start(): void {
    if (!this.transmit()) return;
    // §17.1.2.2: "timer F MUST be set to fire in 64*T1 seconds ... If an unreliable transport
    // is in use, the client transaction MUST set timer E to fire in T1 seconds."
    if (!this.flow.reliable) this.startE(this.t.T1);
    this.timers.start('F', 64 * this.t.T1, () => {
      if (this.state === TransactionState.Trying || this.state === TransactionState.Proceeding) {
        this.user.timeout(this);
        this.terminate();
      }
    });
  }

  private startE(interval: number): void {
    this.timers.start('E', interval, () => {
      if (this.state !== TransactionState.Trying && this.state !== TransactionState.Proceeding) return;
      this.flow.send(this.wire);
      // In Proceeding the interval is T2; in Trying it doubles up to T2.
      this.startE(this.state === TransactionState.Proceeding ? this.t.T2 : Math.min(2 * interval, this.t.T2));
    });
  }

  receiveResponse(response: SipResponse): void {
    if (this.state !== TransactionState.Trying && this.state !== TransactionState.Proceeding) return;
    if (response.status < 200) {
      this.state = TransactionState.Proceeding;
      this.user.response(response, this);
      return;
    }
    // §17.1.2.2: on a final response "the client transaction MUST transition to the
    // 'Completed' state ... timer K ... T4 seconds for unreliable transports, zero for reliable".
    this.state = TransactionState.Completed;
    this.timers.stop('E');
    this.timers.stop('F');
    this.user.response(response, this);
    // Completed only absorbs retransmitted finals: nothing is sent or passed on any more.
    if (this.state === TransactionState.Completed) this.retireAfter(this.flow.reliable ? 0 : this.t.T4, true);
  }
}
