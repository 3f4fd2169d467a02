// A user agent's dialog (RFC 3261 §12): the peer-to-peer relationship an INVITE (or
// SUBSCRIBE, REFER) sets up, with what every later request inside it needs: the
// dialog id, the route set, the local and remote sequence numbers and the remote
// target. It builds nothing and sends nothing: sip/requests.ts turns a dialog into
// requests, the user agent above decides when.
import { parseNameAddr } from './header-values.js';
import type { SipRequest, SipResponse } from './message.js';

export enum DialogState {
  /** Created by a provisional response with a To tag (§12.1). */
  Early = 'Early',
  /** Created or confirmed by a 2xx. */
  Confirmed = 'Confirmed',
  Terminated = 'Terminated',
}

/** §12: "A dialog is identified at each UA with a dialog ID, which consists of a Call-ID value, a local tag and a remote tag." */
export interface DialogId {
  callId: string;
  localTag: string;
  remoteTag: string;
}

/** The same text for the same dialog, whichever side's id it is read from. */
export function dialogKey(callId: string, tagA: string, tagB: string): string {
  return `${callId}|${tagA}|${tagB}`;
}

/**
 * Requests that refresh the remote target (§12.2, RFC 3311 §5.1 UPDATE, RFC 6665
 * §4.1.2.4 SUBSCRIBE and NOTIFY): their Contact, or that of their 2xx, replaces it.
 */
export const TARGET_REFRESH = new Set(['INVITE', 'UPDATE', 'SUBSCRIBE', 'NOTIFY']);

export type RemoteSeqCheck = { ok: true } | { ok: false; reason: 'out-of-order' };

interface DialogInit {
  id: DialogId;
  state: DialogState;
  routeSet: string[];
  localSeq: number | null;
  remoteSeq: number | null;
  localUri: string;
  remoteUri: string;
  remoteTarget: string;
  secure: boolean;
}

/**
 * One dialog as a UA sees it (§12.1.1 UAS, §12.1.2 UAC).
 * https://www.rfc-editor.org/rfc/rfc3261#section-12
 */
export class Dialog {
  readonly id: DialogId;
  #state: DialogState;
  /** Route header values in the order they are sent (the name-addr text as received). */
  #routeSet: string[];
  #localSeq: number | null;
  #remoteSeq: number | null;
  readonly localUri: string;
  readonly remoteUri: string;
  #remoteTarget: string;
  /** §12.1.1: the request arrived over TLS with a SIPS Request-URI; later requests must use TLS too. */
  readonly secure: boolean;

  private constructor(init: DialogInit) {
    this.id = init.id;
    this.#state = init.state;
    this.#routeSet = init.routeSet;
    this.#localSeq = init.localSeq;
    this.#remoteSeq = init.remoteSeq;
    this.localUri = init.localUri;
    this.remoteUri = init.remoteUri;
    this.#remoteTarget = init.remoteTarget;
    this.secure = init.secure;
  }

  /**
   * §12.1.2 UAC behavior, from the request sent and a 1xx (with a To tag) or 2xx received:
   * "The route set MUST be set to the list of URIs in the Record-Route header field from
   * the response, taken in reverse order ... The remote target MUST be set to the URI
   * from the Contact header field of the response."
   */
  static uac(request: SipRequest, response: SipResponse, overTls = false): Dialog {
    const remoteTag = response.to.params.get('tag');
    if (!remoteTag) throw new TypeError('a dialog needs a To tag in the response');
    if (response.status < 101 || response.status >= 300) throw new TypeError(`a ${response.status} response creates no dialog`);
    return new Dialog({
      id: { callId: request.callId, localTag: request.from.params.get('tag') ?? '', remoteTag },
      state: response.status < 200 ? DialogState.Early : DialogState.Confirmed,
      routeSet: [...response.getAll('record-route')].reverse(),
      // "The local sequence number MUST be set to the value of the sequence number in the CSeq header field of the request."
      localSeq: request.cseq.seq,
      // "The remote sequence number MUST be empty"
      remoteSeq: null,
      localUri: request.from.uriText,
      remoteUri: request.to.uriText,
      remoteTarget: contactOf(response) ?? request.uri,
      secure: overTls && request.requestUri.scheme === 'sips',
    });
  }

  /**
   * §12.1.1 UAS behavior, from the request received and the To tag the UAS put in its
   * response: "The route set MUST be set to the list of URIs in the Record-Route header
   * field from the request, taken in order ... The remote target MUST be set to the URI
   * from the Contact header field of the request."
   */
  static uas(request: SipRequest, localTag: string, overTls = false, early = false): Dialog {
    return new Dialog({
      id: { callId: request.callId, localTag, remoteTag: request.from.params.get('tag') ?? '' },
      state: early ? DialogState.Early : DialogState.Confirmed,
      routeSet: request.getAll('record-route'),
      // "The local sequence number MUST be empty. The remote sequence number MUST be set to
      // the value of the sequence number in the CSeq header field of the request."
      localSeq: null,
      remoteSeq: request.cseq.seq,
      localUri: request.to.uriText,
      remoteUri: request.from.uriText,
      remoteTarget: contactOf(request) ?? request.from.uriText,
      secure: overTls && request.requestUri.scheme === 'sips',
    });
  }

  get state(): DialogState {
    return this.#state;
  }

  get key(): string {
    return dialogKey(this.id.callId, this.id.localTag, this.id.remoteTag);
  }

  get routeSet(): readonly string[] {
    return this.#routeSet;
  }

  get localSeq(): number | null {
    return this.#localSeq;
  }

  get remoteSeq(): number | null {
    return this.#remoteSeq;
  }

  get remoteTarget(): string {
    return this.#remoteTarget;
  }

  /**
   * The CSeq number for the next request this UA sends in the dialog (not ACK or CANCEL):
   * §12.2.1.1 "The UAC uses the remote target and route set to build the Request-URI and
   * Route header field of the request ... the local sequence number MUST be incremented by
   * one"; when it is empty (the UAS side), a fresh value below 2**31.
   */
  nextLocalSeq(): number {
    this.assertOpen();
    this.#localSeq = this.#localSeq === null ? 1 + Math.floor(Math.random() * 0x7fff) : this.#localSeq + 1;
    return this.#localSeq;
  }

  /**
   * §12.2.2 UAS behavior for a request inside the dialog: "If the remote sequence number
   * is empty, it MUST be set to the value of the sequence number in the CSeq header field
   * value in the request. If the remote sequence number was not empty, but the sequence
   * number of the request is lower than the remote sequence number, the request is out of
   * order and MUST be rejected with a 500 (Server Internal Error) response." A target
   * refresh request then replaces the remote target with its Contact.
   */
  receiveRequest(request: SipRequest): RemoteSeqCheck {
    this.assertOpen();
    const seq = request.cseq.seq;
    // ACK and CANCEL carry the INVITE's number (§13.2.2.4, §9.1): they never move it.
    if (request.method === 'ACK' || request.method === 'CANCEL') return { ok: true };
    if (this.#remoteSeq !== null && seq < this.#remoteSeq) return { ok: false, reason: 'out-of-order' };
    this.#remoteSeq = seq;
    if (TARGET_REFRESH.has(request.method)) this.#remoteTarget = contactOf(request) ?? this.#remoteTarget;
    return { ok: true };
  }

  /**
   * A response to a request this UA sent in (or to create) the dialog. §13.2.2.4: a 2xx to
   * the INVITE confirms an early dialog and "the route set for the dialog MUST be recomputed
   * based on the 2xx response"; §12.2.1.2: "When a UAC receives a 2xx response to a target
   * refresh request, it MUST replace the dialog's remote target URI with the URI from the
   * Contact header field in that response, if present."
   */
  receiveResponse(response: SipResponse): void {
    this.assertOpen();
    const ok = response.status >= 200 && response.status < 300;
    const method = response.cseq.method;
    if (ok && this.#state === DialogState.Early) {
      this.#state = DialogState.Confirmed;
      this.#routeSet = [...response.getAll('record-route')].reverse();
    }
    if (TARGET_REFRESH.has(method) && (ok || (this.#state === DialogState.Early && response.status < 200))) {
      this.#remoteTarget = contactOf(response) ?? this.#remoteTarget;
    }
    // §12.3: "If the response for a request within a dialog is a 481 (Call/Transaction Does
    // Not Exist) or a 408 (Request Timeout), the UAC SHOULD terminate the dialog."
    if (this.#state === DialogState.Confirmed && (response.status === 481 || response.status === 408)) this.terminate();
  }

  /** After a BYE (sent or received), a 481/408, or an early dialog's non-2xx final. */
  terminate(): void {
    this.#state = DialogState.Terminated;
  }

  get terminated(): boolean {
    return this.#state === DialogState.Terminated;
  }

  private assertOpen(): void {
    if (this.#state === DialogState.Terminated) throw new DialogStateError(`dialog ${this.id.callId} is terminated`);
  }
}

/** A dialog used after it ended: a programming mistake in the UA above, not a peer's. */
export class DialogStateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DialogStateError';
  }
}

function contactOf(m: SipRequest | SipResponse): string | undefined {
  const c = m.get('contact');
  if (!c) return undefined;
  const first = m.getAll('contact')[0];
  return first ? parseNameAddr(first, 'Contact').uriText : undefined;
}
