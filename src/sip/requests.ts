// Building the requests a user agent sends (RFC 3261 §8.1.1 outside a dialog, §12.2.1.1
// inside one, §13.2.2.4 the ACK for a 2xx, §9.1 CANCEL, §17.1.1.3 the ACK for a non-2xx)
// with fresh branches, tags and Call-IDs. Sending is the stack's job; what the Via and
// Contact advertise is the caller's (the listener of the transport the request goes on).
import type { Dialog } from './dialog.js';
import { parseNameAddr } from './header-values.js';
import { SipRequest, type Header, type SipResponse } from './message.js';
import { formatHost } from './uri.js';
import { newBranch, newCallId, newTag } from './ids.js';

/** Where a request says it was sent from (Via sent-by) and where to reach its sender (Contact). */
export interface SentBy {
  /** udp, tcp, tls, ws, wss: written in upper case in Via (RFC 7118 §5.2 "WS"/"WSS"). */
  transport: string;
  host: string;
  port: number;
}

/** A Via value: `SIP/2.0/TLS host:port;branch=…;rport` (RFC 3581 asks for rport). */
export function viaValue(sentBy: SentBy, branch = newBranch()): string {
  return `SIP/2.0/${sentBy.transport.toUpperCase()} ${formatHost(sentBy.host)}:${sentBy.port};branch=${branch};rport`;
}

/** A SIP URI naming a listener: `sip:host:port;transport=tls`, with a user part when given. */
export function addressUri(sentBy: SentBy, user?: string): string {
  return `sip:${user ? `${user}@` : ''}${formatHost(sentBy.host)}:${sentBy.port};transport=${sentBy.transport.toLowerCase()}`;
}

export interface RequestContent {
  /** This UA's Contact URI (required for dialog-forming and target refresh requests). */
  contact?: string;
  /** Further headers, added after the ones built here (Event, Content-Type, Authorization …). */
  headers?: Header[];
  body?: Buffer | string;
}

export interface OutOfDialogOptions extends RequestContent {
  method: string;
  /** The Request-URI. */
  uri: string;
  /** From URI (this UA's identity) and its tag (fresh when absent). */
  from: string;
  fromTag?: string;
  fromDisplay?: string;
  /** To URI; the Request-URI when absent (§8.1.1.2). */
  to?: string;
  via: SentBy;
  callId?: string;
  cseq?: number;
  /** A preloaded route set (an outbound proxy, a registration's Path), in sending order. */
  route?: string[];
}

/** §8.1.1: a request outside any dialog. */
export function outOfDialogRequest(o: OutOfDialogOptions): SipRequest {
  const display = o.fromDisplay ? `"${o.fromDisplay.replace(/["\\]/g, '')}" ` : '';
  return assemble(o.method, o.uri, o.via, {
    from: `${display}<${o.from}>;tag=${o.fromTag ?? newTag()}`,
    to: `<${o.to ?? o.uri}>`,
    callId: o.callId ?? newCallId(o.via.host),
    cseq: o.cseq ?? 1,
    route: o.route ?? [],
    content: o,
  });
}

export interface InDialogOptions extends RequestContent {
  via: SentBy;
}

/**
 * §12.2.1.1: a request inside a dialog. "The URI in the To field of the request MUST be
 * set to the remote URI from the dialog state. The tag in the To header field of the
 * request MUST be set to the remote tag of the dialog ID. The From URI of the request MUST
 * be set to the local URI from the dialog state ... the local sequence number MUST be
 * incremented by one." Request-URI and Route follow the route set (`dialogTarget`).
 */
export function inDialogRequest(dialog: Dialog, method: string, o: InDialogOptions): SipRequest {
  if (method === 'ACK' || method === 'CANCEL') throw new TypeError(`${method} is built with ackFor2xx or cancelFor, not as a new in-dialog request`);
  return inDialog(dialog, method, dialog.nextLocalSeq(), o);
}

/**
 * §13.2.2.4: "The header fields of the ACK are constructed in the same way as for any
 * request sent within a dialog ... with the exception of the CSeq and the header fields
 * related to authentication. The sequence number of the CSeq header field MUST be the same
 * as the INVITE being acknowledged, but the CSeq method MUST be ACK. The ACK MUST contain
 * the same credentials as the INVITE."
 */
export function ackFor2xx(dialog: Dialog, invite: SipRequest, o: InDialogOptions): SipRequest {
  const credentials = invite.headers.filter((h) => h.name === 'authorization' || h.name === 'proxy-authorization');
  return inDialog(dialog, 'ACK', invite.cseq.seq, { ...o, headers: [...credentials, ...(o.headers ?? [])] });
}

/**
 * §9.1: "The Request-URI, Call-ID, To, the numeric part of CSeq, and From header fields in
 * the CANCEL request MUST be identical to those in the request being cancelled, including
 * tags. A CANCEL constructed by a client MUST have only a single Via header field value
 * matching the top Via value in the request being cancelled ... If the request being
 * cancelled contains a Route header field, the CANCEL request MUST include that Route
 * header field's values."
 */
export function cancelFor(request: SipRequest): SipRequest {
  return new SipRequest('CANCEL', request.uri, [
    { name: 'via', value: request.getAll('via')[0]! },
    { name: 'max-forwards', value: '70' },
    { name: 'from', value: request.get('from')! },
    { name: 'to', value: request.get('to')! },
    { name: 'call-id', value: request.callId },
    { name: 'cseq', value: `${request.cseq.seq} CANCEL` },
    ...request.headers.filter((h) => h.name === 'route'),
  ]);
}

/**
 * §17.1.1.3: "The ACK request constructed by the client transaction MUST contain values for
 * the Call-ID, From, and Request-URI that are equal to the values of those header fields in
 * the request passed to the transport by the client transaction ... The To header field in
 * the ACK MUST equal the To header field in the response being acknowledged ... The ACK MUST
 * contain a single Via header field, and this MUST be equal to the top Via header field of
 * the original request ... If the INVITE request whose response is being acknowledged had
 * Route header fields, those header fields MUST appear in the ACK."
 */
export function ackForNon2xx(invite: SipRequest, response: SipResponse): SipRequest {
  return new SipRequest('ACK', invite.uri, [
    { name: 'via', value: invite.getAll('via')[0]! },
    { name: 'max-forwards', value: '70' },
    { name: 'from', value: invite.get('from')! },
    { name: 'to', value: response.get('to')! },
    { name: 'call-id', value: invite.callId },
    { name: 'cseq', value: `${invite.cseq.seq} ACK` },
    ...invite.headers.filter((h) => h.name === 'route'),
  ]);
}

/**
 * The same request sent again as a new transaction (after a challenge, §22.2): a new
 * branch, CSeq `cseq` (one more than before unless given), `replace` headers instead of
 * any of the same name.
 */
export function resend(request: SipRequest, replace: Header[], cseq = request.cseq.seq + 1): SipRequest {
  const names = new Set(replace.map((h) => h.name));
  const headers: Header[] = [];
  let viaDone = false;
  for (const h of request.headers) {
    if (names.has(h.name)) continue;
    if (h.name === 'via' && !viaDone) {
      // Only our own (top) Via exists on a request a UA sends; give it a new branch.
      headers.push({ name: 'via', value: h.value.replace(/;\s*branch=[^;,\s]*/i, `;branch=${newBranch()}`) });
      viaDone = true;
    } else if (h.name === 'cseq') headers.push({ name: 'cseq', value: `${cseq} ${request.method}` });
    else headers.push(h);
  }
  headers.push(...replace);
  return new SipRequest(request.method, request.uri, headers, request.body);
}

/**
 * Request-URI and Route headers for a request in the dialog (§12.2.1.1): with no route set,
 * the remote target and no Route; when the first route is a loose router (`lr`), the remote
 * target and the route set as Route; otherwise (a strict router, RFC 2543) "the UAC MUST
 * place the first URI from the route set into the Request-URI, stripping any parameters that
 * are not allowed in a Request-URI. The UAC MUST add a Route header field containing the
 * remainder of the route set values in order, including all parameters. The UAC MUST then
 * place the remote target URI into the Route header field as the last value."
 */
export function dialogTarget(dialog: Dialog): { uri: string; route: string[] } {
  const routes = dialog.routeSet;
  if (routes.length === 0) return { uri: dialog.remoteTarget, route: [] };
  const first = parseNameAddr(routes[0]!, 'Route');
  if (first.uri.params.has('lr')) return { uri: dialog.remoteTarget, route: [...routes] };
  return { uri: requestUriOf(first.uriText), route: [...routes.slice(1), `<${dialog.remoteTarget}>`] };
}

/** §19.1.1 Table 1: `method` and headers are not allowed in a Request-URI. */
function requestUriOf(uri: string): string {
  return uri.replace(/\?.*$/, '').replace(/;method=[^;]*/i, '');
}

function inDialog(dialog: Dialog, method: string, cseq: number, o: InDialogOptions): SipRequest {
  const { uri, route } = dialogTarget(dialog);
  return assemble(method, uri, o.via, {
    from: `<${dialog.localUri}>;tag=${dialog.id.localTag}`,
    to: `<${dialog.remoteUri}>;tag=${dialog.id.remoteTag}`,
    callId: dialog.id.callId,
    cseq,
    route,
    content: o,
  });
}

function assemble(
  method: string,
  uri: string,
  via: SentBy,
  p: { from: string; to: string; callId: string; cseq: number; route: string[]; content: RequestContent },
): SipRequest {
  const headers: Header[] = [
    { name: 'via', value: viaValue(via) },
    { name: 'max-forwards', value: '70' },
    ...p.route.map((value) => ({ name: 'route', value })),
    { name: 'from', value: p.from },
    { name: 'to', value: p.to },
    { name: 'call-id', value: p.callId },
    { name: 'cseq', value: `${p.cseq} ${method}` },
  ];
  if (p.content.contact) headers.push({ name: 'contact', value: `<${p.content.contact}>` });
  headers.push(...(p.content.headers ?? []));
  const body = p.content.body === undefined ? undefined : Buffer.isBuffer(p.content.body) ? p.content.body : Buffer.from(p.content.body, 'utf8');
  return new SipRequest(method, uri, headers, body);
}
