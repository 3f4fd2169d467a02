// The UA dialog (RFC 3261 §12) and the request builder (§8.1.1, §12.2.1.1, §13.2.2.4,
// §9.1, §17.1.1.3), with messages parsed from wire text as they would arrive.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMessage } from '../../src/sip/parser.ts';
import type { SipRequest, SipResponse } from '../../src/sip/message.ts';
import { Dialog, DialogState, DialogStateError } from '../../src/sip/dialog.ts';
import { ackFor2xx, ackForNon2xx, cancelFor, dialogTarget, inDialogRequest, outOfDialogRequest, resend } from '../../src/sip/requests.ts';
import { newBranch, newCallId, newTag } from '../../src/sip/ids.ts';

const via = { transport: 'udp', host: '192.0.2.10', port: 5070 };

function wire<T>(text: string): T {
  return parseMessage(Buffer.from(text.replace(/\n/g, '\r\n') + '\r\n', 'latin1')) as T;
}

const invite = (extra = '') =>
  wire<SipRequest>(`INVITE sip:bob@example.org SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5070;branch=z9hG4bKinv1;rport
Max-Forwards: 70
From: "Alice" <sip:alice@example.org>;tag=alice-tag
To: <sip:bob@example.org>
Call-ID: dlg-1@192.0.2.10
CSeq: 314 INVITE
Contact: <sip:alice@192.0.2.10:5070>
${extra}Content-Length: 0
`);

const response = (status: number, extra = '', toTag = 'bob-tag', cseq = '314 INVITE') =>
  wire<SipResponse>(`SIP/2.0 ${status} Reason
Via: SIP/2.0/UDP 192.0.2.10:5070;branch=z9hG4bKinv1;rport
From: "Alice" <sip:alice@example.org>;tag=alice-tag
To: <sip:bob@example.org>${toTag ? `;tag=${toTag}` : ''}
Call-ID: dlg-1@192.0.2.10
CSeq: ${cseq}
${extra}Content-Length: 0
`);

/** A message as the far end would parse it. */
const reparse = <T extends SipRequest | SipResponse>(m: T): T => parseMessage(m.toBuffer()) as T;

const RR = 'Record-Route: <sip:p2.example.net;lr>, <sip:p1.example.com;lr>\n';

describe('Dialog, UAC side (§12.1.2)', () => {
  test('Dialog.uac() from a 2xx: id from Call-ID and tags, route set is Record-Route reversed, remote target from Contact', () => {
    const d = Dialog.uac(invite(), response(200, `${RR}Contact: <sip:bob@198.51.100.7:5062>\n`));
    assert.deepEqual(d.id, { callId: 'dlg-1@192.0.2.10', localTag: 'alice-tag', remoteTag: 'bob-tag' });
    assert.equal(d.state, DialogState.Confirmed);
    assert.deepEqual(d.routeSet, ['<sip:p1.example.com;lr>', '<sip:p2.example.net;lr>']);
    assert.equal(d.remoteTarget, 'sip:bob@198.51.100.7:5062');
    assert.equal(d.localSeq, 314);
    assert.equal(d.remoteSeq, null);
    assert.equal(d.localUri, 'sip:alice@example.org');
    assert.equal(d.remoteUri, 'sip:bob@example.org');
    assert.equal(d.secure, false);
  });

  test('Dialog.uac() rejects with TypeError for a response without a To tag or a non-dialog status', () => {
    assert.throws(() => Dialog.uac(invite(), response(180, '', '')), TypeError);
    assert.throws(() => Dialog.uac(invite(), response(486)), TypeError);
  });

  test('an early dialog from a 1xx is confirmed by the 2xx, whose Record-Route replaces the route set (§13.2.2.4)', () => {
    const d = Dialog.uac(invite(), response(180, 'Record-Route: <sip:early.example.com;lr>\nContact: <sip:bob@198.51.100.7>\n'));
    assert.equal(d.state, DialogState.Early);
    assert.deepEqual(d.routeSet, ['<sip:early.example.com;lr>']);
    d.receiveResponse(response(200, `${RR}Contact: <sip:bob@198.51.100.8>\n`));
    assert.equal(d.state, DialogState.Confirmed);
    assert.deepEqual(d.routeSet, ['<sip:p1.example.com;lr>', '<sip:p2.example.net;lr>']);
    assert.equal(d.remoteTarget, 'sip:bob@198.51.100.8');
  });

  test('secure when the INVITE went over TLS to a SIPS URI', () => {
    const req = invite();
    req.uri = 'sips:bob@example.org';
    assert.equal(Dialog.uac(req, response(200), true).secure, true);
    assert.equal(Dialog.uac(req, response(200), false).secure, false);
  });
});

describe('Dialog, UAS side (§12.1.1, §12.2.2)', () => {
  test('Dialog.uas(): route set is Record-Route in order, remote seq from the request, local seq empty', () => {
    const d = Dialog.uas(invite(RR), 'bob-tag');
    assert.deepEqual(d.id, { callId: 'dlg-1@192.0.2.10', localTag: 'bob-tag', remoteTag: 'alice-tag' });
    assert.deepEqual(d.routeSet, ['<sip:p2.example.net;lr>', '<sip:p1.example.com;lr>']);
    assert.equal(d.remoteSeq, 314);
    assert.equal(d.localSeq, null);
    assert.equal(d.remoteTarget, 'sip:alice@192.0.2.10:5070');
    assert.equal(d.localUri, 'sip:bob@example.org');
    assert.equal(d.remoteUri, 'sip:alice@example.org');
  });

  test('receiveRequest() refuses a lower CSeq as out of order and keeps the remote seq', () => {
    const d = Dialog.uas(invite(), 'bob-tag');
    const inDialog = (method: string, seq: number, contact = '') =>
      wire<SipRequest>(`${method} sip:bob@198.51.100.7 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5070;branch=z9hG4bK${method}${seq}
Max-Forwards: 70
From: <sip:alice@example.org>;tag=alice-tag
To: <sip:bob@example.org>;tag=bob-tag
Call-ID: dlg-1@192.0.2.10
CSeq: ${seq} ${method}
${contact}Content-Length: 0
`);
    assert.deepEqual(d.receiveRequest(inDialog('INFO', 315)), { ok: true });
    assert.equal(d.remoteSeq, 315);
    assert.deepEqual(d.receiveRequest(inDialog('INFO', 312)), { ok: false, reason: 'out-of-order' });
    assert.equal(d.remoteSeq, 315);
    // ACK carries the INVITE's number: no effect on the sequence.
    assert.deepEqual(d.receiveRequest(inDialog('ACK', 314)), { ok: true });
    assert.equal(d.remoteSeq, 315);
  });

  test('a target refresh request (re-INVITE, UPDATE) replaces the remote target; other methods do not', () => {
    const d = Dialog.uas(invite(), 'bob-tag');
    const req = (method: string, seq: number) =>
      wire<SipRequest>(`${method} sip:bob@198.51.100.7 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5070;branch=z9hG4bKr${seq}
Max-Forwards: 70
From: <sip:alice@example.org>;tag=alice-tag
To: <sip:bob@example.org>;tag=bob-tag
Call-ID: dlg-1@192.0.2.10
CSeq: ${seq} ${method}
Contact: <sip:alice@203.0.113.${seq - 300}:5070>
Content-Length: 0
`);
    d.receiveRequest(req('INFO', 320));
    assert.equal(d.remoteTarget, 'sip:alice@192.0.2.10:5070', 'INFO is no target refresh');
    d.receiveRequest(req('INVITE', 321));
    assert.equal(d.remoteTarget, 'sip:alice@203.0.113.21:5070');
    d.receiveRequest(req('UPDATE', 322));
    assert.equal(d.remoteTarget, 'sip:alice@203.0.113.22:5070');
  });
});

describe('target refresh and CSeq on the UAC side (§12.2.1)', () => {
  test('in-dialog requests count the local CSeq up from the INVITE; ACK for 2xx keeps the INVITE number and its credentials', () => {
    const inv = invite('Proxy-Authorization: Digest username="alice", realm="r", nonce="n", uri="sip:bob@example.org", response="x"\n');
    const d = Dialog.uac(inv, response(200, 'Contact: <sip:bob@198.51.100.7:5062>\n'));
    const ack = ackFor2xx(d, inv, { via });
    assert.equal(ack.method, 'ACK');
    assert.equal(ack.get('cseq'), '314 ACK');
    assert.match(ack.get('proxy-authorization') ?? '', /username="alice"/, 'the ACK has the same credentials as the INVITE');
    assert.notEqual(ack.topVia.branch, inv.topVia.branch, 'the ACK for a 2xx is a new transaction');
    assert.equal(d.localSeq, 314, 'the ACK does not use a sequence number');
    const info = inDialogRequest(d, 'INFO', { via });
    assert.equal(info.get('cseq'), '315 INFO');
    const bye = inDialogRequest(d, 'BYE', { via });
    assert.equal(bye.get('cseq'), '316 BYE');
    assert.equal(bye.get('from'), '<sip:alice@example.org>;tag=alice-tag');
    assert.equal(bye.get('to'), '<sip:bob@example.org>;tag=bob-tag');
    assert.equal(bye.callId, 'dlg-1@192.0.2.10');
    assert.equal(bye.uri, 'sip:bob@198.51.100.7:5062');
  });

  test('a 2xx to a re-INVITE replaces the remote target; a 2xx to INFO does not', () => {
    const d = Dialog.uac(invite(), response(200, 'Contact: <sip:bob@198.51.100.7:5062>\n'));
    d.receiveResponse(response(200, 'Contact: <sip:bob@198.51.100.9:5062>\n', 'bob-tag', '315 INFO'));
    assert.equal(d.remoteTarget, 'sip:bob@198.51.100.7:5062');
    d.receiveResponse(response(200, 'Contact: <sip:bob@198.51.100.9:5062>\n', 'bob-tag', '316 INVITE'));
    assert.equal(d.remoteTarget, 'sip:bob@198.51.100.9:5062');
    assert.equal(inDialogRequest(d, 'BYE', { via }).uri, 'sip:bob@198.51.100.9:5062');
  });

  test('the UAS side starts its own CSeq when it first sends; a 481 ends the dialog (§12.3) and it then refuses to build', () => {
    const d = Dialog.uas(invite(), 'bob-tag');
    const first = inDialogRequest(d, 'BYE', { via }).cseq.seq;
    assert.ok(first >= 1 && first < 2 ** 31);
    assert.equal(inDialogRequest(d, 'INFO', { via }).cseq.seq, first + 1);
    d.receiveResponse(wire<SipResponse>(`SIP/2.0 481 Call Does Not Exist
Via: SIP/2.0/UDP 192.0.2.10:5070;branch=z9hG4bKx
From: <sip:bob@example.org>;tag=bob-tag
To: <sip:alice@example.org>;tag=alice-tag
Call-ID: dlg-1@192.0.2.10
CSeq: ${first + 1} INFO
Content-Length: 0
`));
    assert.equal(d.state, DialogState.Terminated);
    assert.throws(() => inDialogRequest(d, 'BYE', { via }), DialogStateError);
  });
});

describe('routing inside a dialog (§12.2.1.1)', () => {
  test('no route set: Request-URI is the remote target and no Route', () => {
    const d = Dialog.uac(invite(), response(200, 'Contact: <sip:bob@198.51.100.7:5062>\n'));
    const bye = inDialogRequest(d, 'BYE', { via });
    assert.equal(bye.uri, 'sip:bob@198.51.100.7:5062');
    assert.equal(bye.has('route'), false);
  });

  test('loose routing: Request-URI is the remote target, Route is the route set in order', () => {
    const d = Dialog.uac(invite(), response(200, `${RR}Contact: <sip:bob@198.51.100.7:5062>\n`));
    const bye = inDialogRequest(d, 'BYE', { via });
    assert.equal(bye.uri, 'sip:bob@198.51.100.7:5062');
    assert.deepEqual(bye.getAll('route'), ['<sip:p1.example.com;lr>', '<sip:p2.example.net;lr>']);
  });

  test('strict routing: the first route (parameters not allowed there stripped) becomes the Request-URI, the remote target the last Route', () => {
    const d = Dialog.uac(
      invite(),
      response(200, 'Record-Route: <sip:p2.example.net;lr>, <sip:p1.example.com;transport=tcp;method=INVITE?x=y>\nContact: <sip:bob@198.51.100.7:5062>\n'),
    );
    assert.deepEqual(dialogTarget(d), { uri: 'sip:p1.example.com;transport=tcp', route: ['<sip:p2.example.net;lr>', '<sip:bob@198.51.100.7:5062>'] });
    const bye = inDialogRequest(d, 'BYE', { via });
    assert.equal(bye.uri, 'sip:p1.example.com;transport=tcp');
    assert.deepEqual(bye.getAll('route'), ['<sip:p2.example.net;lr>', '<sip:bob@198.51.100.7:5062>']);
    // The message as sent parses back with the same routing.
    const back = reparse(bye);
    assert.equal(back.routes.at(-1)?.uriText, 'sip:bob@198.51.100.7:5062');
  });
});

describe('requests outside a dialog and for transactions (§8.1.1, §9.1, §17.1.1.3)', () => {
  test('outOfDialogRequest(): Via with a fresh magic-cookie branch and rport, From tag, Call-ID, CSeq, To = Request-URI, Contact, extra headers and body', () => {
    const req = outOfDialogRequest({
      method: 'INVITE',
      uri: 'sip:2002@pbx.example',
      from: 'sip:2001@pbx.example',
      fromDisplay: 'Al "x" ice',
      via: { transport: 'tls', host: '2001:db8::1', port: 5061 },
      contact: 'sip:2001@[2001:db8::1]:5061;transport=tls',
      headers: [{ name: 'content-type', value: 'application/sdp' }],
      body: 'v=0\r\n',
    });
    const back = reparse(req);
    assert.equal(back.method, 'INVITE');
    assert.equal(back.topVia.transport, 'TLS');
    assert.equal(back.topVia.host, '2001:db8::1');
    assert.equal(back.topVia.port, 5061);
    assert.match(back.topVia.branch ?? '', /^z9hG4bK/);
    assert.ok(back.topVia.params.has('rport'));
    assert.equal(back.from.display, 'Al x ice');
    assert.ok((back.from.params.get('tag') ?? '').length >= 8);
    assert.equal(back.to.uriText, 'sip:2002@pbx.example');
    assert.equal(back.to.params.has('tag'), false);
    assert.match(back.callId, /@2001:db8::1$/);
    assert.equal(back.get('cseq'), '1 INVITE');
    assert.equal(back.get('contact'), '<sip:2001@[2001:db8::1]:5061;transport=tls>');
    assert.equal(back.get('max-forwards'), '70');
    assert.equal(back.body.toString(), 'v=0\r\n');
  });

  test('fresh identifiers: branches, tags and Call-IDs never repeat', () => {
    const n = 2000;
    assert.equal(new Set(Array.from({ length: n }, newBranch)).size, n);
    assert.equal(new Set(Array.from({ length: n }, newTag)).size, n);
    assert.equal(new Set(Array.from({ length: n }, () => newCallId('h'))).size, n);
  });

  test('cancelFor(): same Request-URI, top Via, From, To, Call-ID, CSeq number and Route as the INVITE', () => {
    const inv = invite('Route: <sip:edge.example.com;lr>\n');
    const c = cancelFor(inv);
    assert.equal(c.method, 'CANCEL');
    assert.equal(c.uri, inv.uri);
    assert.deepEqual(c.getAll('via'), [inv.getAll('via')[0]]);
    for (const h of ['from', 'to', 'call-id']) assert.equal(c.get(h), inv.get(h));
    assert.equal(c.get('cseq'), '314 CANCEL');
    assert.deepEqual(c.getAll('route'), ['<sip:edge.example.com;lr>']);
  });

  test('ackForNon2xx(): the INVITE top Via, the To of the response (with its tag), CSeq number of the INVITE, its Route', () => {
    const inv = invite('Route: <sip:edge.example.com;lr>\n');
    const ack = ackForNon2xx(inv, response(486));
    assert.equal(ack.method, 'ACK');
    assert.equal(ack.uri, inv.uri);
    assert.deepEqual(ack.getAll('via'), [inv.getAll('via')[0]]);
    assert.equal(ack.get('to'), '<sip:bob@example.org>;tag=bob-tag');
    assert.equal(ack.get('cseq'), '314 ACK');
    assert.deepEqual(ack.getAll('route'), ['<sip:edge.example.com;lr>']);
  });

  test('resend(): a new branch, CSeq one higher (or as given), replaced headers, everything else kept', () => {
    const inv = invite('Proxy-Authorization: Digest old\n');
    const again = resend(inv, [{ name: 'proxy-authorization', value: 'Digest new' }]);
    assert.notEqual(again.topVia.branch, inv.topVia.branch);
    assert.equal(again.topVia.host, inv.topVia.host);
    assert.equal(again.get('cseq'), '315 INVITE');
    assert.deepEqual(again.getAll('proxy-authorization'), ['Digest new']);
    assert.equal(again.get('from'), inv.get('from'));
    assert.equal(resend(inv, [], 900).get('cseq'), '900 INVITE');
  });
});
