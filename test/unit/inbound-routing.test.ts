// Where a provider's call goes: the DID read where the trunk puts it (Request-URI, To,
// Diversion/History-Info, or auto), the caller as asserted (P-Asserted-Identity over
// From, hidden by Privacy: id), and DIDs matched as written or in E.164 form.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMessage } from '../../src/sip/parser.ts';
import type { SipRequest } from '../../src/sip/message.ts';
import { callerOf, didOf, parseDestination } from '../../src/pbx/trunks/inbound.ts';
import type { Trunk } from '../../src/pbx/trunks/store.ts';

function invite(ruriUser: string, headers: string[] = []): SipRequest {
  const text = [
    `INVITE sip:${ruriUser}@192.0.2.1 SIP/2.0`,
    'Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-1',
    'From: "Alice" <sip:+12125550199@carrier.example>;tag=a1',
    'To: <sip:+15551230001@pbx.example>',
    'Call-ID: c1@carrier',
    'CSeq: 1 INVITE',
    'Max-Forwards: 70',
    ...headers,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  return parseMessage(Buffer.from(text)) as SipRequest;
}

const trunk = (o: Partial<Trunk>): Trunk => ({ name: 't', register: true, username: 'acct77', contactUser: null, didFrom: 'auto', ...o }) as Trunk;

test('auto: the Request-URI is the DID, unless it is the user the trunk registers as; then To', () => {
  assert.equal(didOf(invite('15551230009'), trunk({})), '15551230009');
  assert.equal(didOf(invite('acct77'), trunk({})), '+15551230001');
  assert.equal(didOf(invite('in-7'), trunk({ contactUser: 'in-7' })), '+15551230001');
  // An IP-authenticated trunk registers no user: the Request-URI always.
  assert.equal(didOf(invite('acct77'), trunk({ register: false })), 'acct77');
});

test('request_uri, to and diversion take the DID from where the trunk says', () => {
  assert.equal(didOf(invite('acct77'), trunk({ didFrom: 'request_uri' })), 'acct77');
  assert.equal(didOf(invite('15551230009'), trunk({ didFrom: 'to' })), '+15551230001');
  // RFC 5806: each diversion is added on top, so the number first called is the last entry.
  const diverted = invite('15551230009', ['Diversion: <sip:15551230005@carrier.example>;reason=no-answer, <sip:15551230004@carrier.example>;reason=unconditional']);
  assert.equal(didOf(diverted, trunk({ didFrom: 'diversion' })), '15551230004');
  // RFC 7044: History-Info in order, the first entry is the original target.
  const history = invite('15551230009', ['History-Info: <sip:15551230003@carrier.example>;index=1, <sip:15551230009@pbx.example>;index=1.1']);
  assert.equal(didOf(history, trunk({ didFrom: 'diversion' })), '15551230003');
  assert.equal(didOf(invite('15551230009'), trunk({ didFrom: 'diversion' })), '15551230009', 'no diversion: the Request-URI');
});

test("the caller is the provider's asserted identity; Privacy: id hides it; what reaches phones is cleaned", () => {
  assert.deepEqual(callerOf(invite('x')), { number: '+12125550199', name: 'Alice' });
  assert.deepEqual(callerOf(invite('x', ['P-Asserted-Identity: "Alice Smith" <tel:+12125550100>'])), { number: '+12125550100', name: 'Alice Smith' });
  assert.deepEqual(callerOf(invite('x', ['P-Asserted-Identity: <sip:+12125550100@carrier.example>', 'Privacy: id'])), { number: 'anonymous', name: null });
  const r = invite('x');
  r.set('from', '"Evil\\"<sip:x>" <sip:+1212@carrier.example>;tag=a1');
  assert.doesNotMatch(callerOf(r).name ?? '', /[<>"]/);
});

test('destinations: extension, voicemail, announcement; anything else rejects', () => {
  assert.deepEqual(parseDestination('extension:3001'), { kind: 'extension', target: '3001' });
  assert.deepEqual(parseDestination('voicemail:3001'), { kind: 'voicemail', target: '3001' });
  assert.deepEqual(parseDestination('announcement:closed'), { kind: 'announcement', target: 'closed' });
  assert.deepEqual(parseDestination('reject'), { kind: 'reject', target: null });
});

test('an INVITE without credentials that names a registering trunk\'s user from a stranger\'s address is refused as a spoof; one to an extension of that number is not', async () => {
  const { InboundCalls } = await import('../../src/pbx/trunks/inbound.ts');
  const refused: string[] = [];
  const security: string[] = [];
  const trunkList = [trunk({ name: 'itsp', enabled: true, host: 'sip.itsp.example', allowedAddresses: [], username: '5551000', contactUser: null })];
  const calls = new InboundCalls({
    sources: { trunkAt: () => undefined },
    trunks: { list: () => trunkList },
    isExtension: (n: string) => n === '100',
    securityLog: { write: (event: string, fields: Record<string, unknown>) => security.push(`${event} ${fields['reason']}`) },
    onSpoof: () => {},
    log: { warn: () => {}, child: () => ({}) },
  } as unknown as ConstructorParameters<typeof InboundCalls>[0]);
  const tx = { respond: (r: { status: number }) => refused.push(String(r.status)) } as never;
  const flow = { remoteAddress: '198.51.100.9' } as never;
  assert.equal(calls.handle(invite('5551000'), tx, flow), true, 'the trunk\'s registered user, from elsewhere: taken (refused)');
  assert.deepEqual(refused, ['403']);
  assert.deepEqual(security, ['call-refused not-a-trunk-address']);
  trunkList[0]!.username = '100';
  assert.equal(calls.handle(invite('100'), tx, flow), false, 'extension 100 is called: the phone is challenged as usual');
  assert.deepEqual(refused, ['403'], 'nothing more was answered');
});
