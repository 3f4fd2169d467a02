// The registrar's digest policy: a nonce works once, only from the address it was sent
// to, and only as the server made it; the response is checked against the password.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DigestAuth } from '../../src/pbx/digest-auth.ts';
import { digestResponse, ha1 } from '../../src/sip/digest.ts';
import { parseMessage } from '../../src/sip/parser.ts';
import type { SipRequest } from '../../src/sip/message.ts';

const realm = 'pbx';
const auth = new DigestAuth(
  () => ({ realm, nonceTtlSeconds: 300, algorithms: ['MD5'] }),
  (user) => (user === '1001' ? { secret: 's3cret-Passw0rd', algorithms: ['MD5'] } : undefined),
);

function nonceFor(address: string): string {
  const challenge = auth.challenges(address, false, '1001')[0]!;
  return /nonce="([^"]+)"/.exec(challenge)![1]!;
}

function register(nonce: string, opts: { password?: string; nc?: string; upper?: boolean } = {}): SipRequest {
  const uri = 'sip:127.0.0.1';
  const nc = opts.nc ?? '00000001';
  let response = digestResponse({ algorithm: 'MD5', ha1: ha1('MD5', '1001', realm, opts.password ?? 's3cret-Passw0rd'), method: 'REGISTER', uri, nonce, qop: 'auth', nc, cnonce: 'c1' });
  if (opts.upper) response = response.toUpperCase();
  const header = `Digest username="1001", realm="${realm}", nonce="${nonce}", uri="${uri}", response="${response}", algorithm=MD5, qop=auth, nc=${nc}, cnonce="c1"`;
  return parseMessage(
    Buffer.from(`REGISTER ${uri} SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKd1\r\nMax-Forwards: 70\r\nFrom: <sip:1001@127.0.0.1>;tag=a\r\nTo: <sip:1001@127.0.0.1>\r\nCall-ID: d1\r\nCSeq: 1 REGISTER\r\nAuthorization: ${header}\r\nContent-Length: 0\r\n\r\n`),
  ) as SipRequest;
}

test('a right answer is accepted once, from the address the nonce was sent to', () => {
  const nonce = nonceFor('10.0.0.5');
  assert.deepEqual(auth.verify(register(nonce), 'authorization', '10.0.0.5'), { ok: true, username: '1001' });
  assert.equal(auth.verify(register(nonce), 'authorization', '10.0.0.5').ok ? 'ok' : 'refused', 'refused', 'the same nc again is a replay');
  assert.deepEqual(auth.verify(register(nonce, { nc: '00000002' }), 'authorization', '10.0.0.5'), { ok: true, username: '1001' }, 'a higher nc is a new use');
});

test('a nonce sent to one address is refused from another, and a forged nonce is refused', () => {
  const nonce = nonceFor('10.0.0.5');
  const fromElsewhere = auth.verify(register(nonce), 'authorization', '10.0.0.6');
  assert.deepEqual(fromElsewhere, { ok: false, reason: 'bad_nonce', username: '1001' });
  // The server-made bytes changed (a later time, another number): the tag no longer fits.
  const bytes = Buffer.from(nonce, 'base64url');
  bytes[15] ^= 1;
  assert.deepEqual(auth.verify(register(bytes.toString('base64url')), 'authorization', '10.0.0.5'), { ok: false, reason: 'bad_nonce', username: '1001' });
  assert.equal(auth.verify(register(nonce), 'authorization', '10.0.0.5').ok, true, 'the genuine nonce still works from its address');
});

test('a wrong password is refused; an answer in upper-case hex is the same answer', () => {
  assert.deepEqual(auth.verify(register(nonceFor('10.0.0.5'), { password: 'wrong-Passw0rd1' }), 'authorization', '10.0.0.5'), { ok: false, reason: 'wrong_password', username: '1001' });
  assert.equal(auth.verify(register(nonceFor('10.0.0.5'), { upper: true }), 'authorization', '10.0.0.5').ok, true);
});

test('an IPv6 source and an address longer than the reusable buffer both bind the nonce', () => {
  for (const address of ['2001:db8:85a3:8d3:1319:8a2e:370:7348', `fe80::1%${'x'.repeat(70)}`]) {
    const nonce = nonceFor(address);
    assert.equal(auth.verify(register(nonce), 'authorization', address).ok, true, address);
    assert.equal(auth.verify(register(nonceFor(address)), 'authorization', '10.0.0.5').ok, false);
  }
});

test('the HA1 kept per user follows a new password and a new realm at once, and a deleted user is refused', () => {
  const users = new Map([['1001', 's3cret-Passw0rd']]);
  let currentRealm = 'pbx';
  const a = new DigestAuth(
    () => ({ realm: currentRealm, nonceTtlSeconds: 300, algorithms: ['MD5'] }),
    (u) => (users.has(u) ? { secret: users.get(u)!, algorithms: ['MD5'] } : undefined),
  );
  const answer = (password: string) => {
    const nonce = /nonce="([^"]+)"/.exec(a.challenges('10.0.0.5', false, '1001')[0]!)![1]!;
    const uri = 'sip:127.0.0.1';
    const response = digestResponse({ algorithm: 'MD5', ha1: ha1('MD5', '1001', currentRealm, password), method: 'REGISTER', uri, nonce, qop: 'auth', nc: '00000001', cnonce: 'c1' });
    const header = `Digest username="1001", realm="${currentRealm}", nonce="${nonce}", uri="${uri}", response="${response}", algorithm=MD5, qop=auth, nc=00000001, cnonce="c1"`;
    const req = parseMessage(
      Buffer.from(`REGISTER ${uri} SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKd2\r\nMax-Forwards: 70\r\nFrom: <sip:1001@127.0.0.1>;tag=a\r\nTo: <sip:1001@127.0.0.1>\r\nCall-ID: d2\r\nCSeq: 1 REGISTER\r\nAuthorization: ${header}\r\nContent-Length: 0\r\n\r\n`),
    ) as SipRequest;
    return a.verify(req, 'authorization', '10.0.0.5');
  };
  assert.equal(answer('s3cret-Passw0rd').ok, true);
  users.set('1001', 'n3w-Passw0rd-22');
  assert.deepEqual(answer('s3cret-Passw0rd'), { ok: false, reason: 'wrong_password', username: '1001' }, 'the old password no longer works');
  assert.equal(answer('n3w-Passw0rd-22').ok, true);
  currentRealm = 'office';
  assert.equal(answer('n3w-Passw0rd-22').ok, true, 'an answer for the new realm');
  users.delete('1001');
  assert.deepEqual(answer('n3w-Passw0rd-22'), { ok: false, reason: 'unknown_user', username: '1001' });
});
