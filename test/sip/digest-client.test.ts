// The digest client (sip/digest-client.ts) answering challenges made by the server's own
// digest layer (pbx/digest-auth.ts), and checked by its verifier: 401 → Authorization,
// 407 → Proxy-Authorization, MD5 and SHA-256, qop=auth with nc and cnonce.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DigestAuth } from '../../src/pbx/digest-auth.ts';
import { makeResponse, type SipRequest, type SipResponse } from '../../src/sip/message.ts';
import { outOfDialogRequest } from '../../src/sip/requests.ts';
import { answerChallenge, authenticatedRequest, authorizationFor, challengeHeaders, withAuthenticatedRetry } from '../../src/sip/digest-client.ts';
import type { DigestAlgorithm } from '../../src/sip/digest.ts';

const CLIENT = '192.0.2.44';
const users: Record<string, { secret: string; algorithms: DigestAlgorithm[] }> = {
  '2001': { secret: 'Kq9-mZt7-rWv2-aLpX', algorithms: ['SHA-256', 'MD5'] },
  '2002': { secret: 'Yt4-nBv8-cXz1-qWeR', algorithms: ['MD5'] },
};
const server = () => new DigestAuth(() => ({ realm: 'pbx.test', nonceTtlSeconds: 60, algorithms: ['SHA-256', 'MD5'] }), (u) => users[u]);

const register = (user = '2001') =>
  outOfDialogRequest({ method: 'REGISTER', uri: 'sip:pbx.test', from: `sip:${user}@pbx.test`, to: `sip:${user}@pbx.test`, via: { transport: 'udp', host: CLIENT, port: 5060 } });
const invite = (user = '2001') =>
  outOfDialogRequest({ method: 'INVITE', uri: 'sip:2002@pbx.test', from: `sip:${user}@pbx.test`, via: { transport: 'udp', host: CLIENT, port: 5060 } });

/** The server's challenge to `req`, as it sends it. */
function challenge(auth: DigestAuth, req: SipRequest, status: 401 | 407, username?: string): SipResponse {
  const header = status === 401 ? 'www-authenticate' : 'proxy-authenticate';
  return makeResponse(req, status, undefined, 'srv', auth.challenges(CLIENT, false, username).map((value) => ({ name: header, value })));
}

describe('answering a challenge', () => {
  test('challengeHeaders(): 401 → WWW-Authenticate/Authorization, 407 → Proxy-Authenticate/Proxy-Authorization, others none', () => {
    assert.deepEqual(challengeHeaders(401), { challenge: 'www-authenticate', answer: 'authorization' });
    assert.deepEqual(challengeHeaders(407), { challenge: 'proxy-authenticate', answer: 'proxy-authorization' });
    assert.equal(challengeHeaders(403), null);
  });

  test('a 401 is answered in Authorization with the first offered algorithm (SHA-256), and the server accepts it', () => {
    const auth = server();
    const req = register();
    const retry = authenticatedRequest(req, challenge(auth, req, 401, '2001'), { username: '2001', password: users['2001']!.secret });
    assert.ok(retry);
    assert.match(retry.get('authorization') ?? '', /algorithm=SHA-256, qop=auth, nc=00000001, cnonce="[0-9a-f]+"/);
    assert.equal(retry.has('proxy-authorization'), false);
    assert.equal(retry.get('cseq'), '2 REGISTER', 'a new request: CSeq one higher');
    assert.notEqual(retry.topVia.branch, req.topVia.branch, 'and a new branch');
    assert.deepEqual(auth.verify(retry, 'authorization', CLIENT), { ok: true, username: '2001' });
  });

  test('a 407 is answered in Proxy-Authorization; an MD5-only user gets MD5 and the server accepts it', () => {
    const auth = server();
    const req = invite('2002');
    const res = challenge(auth, req, 407, '2002');
    assert.equal(res.getAll('proxy-authenticate').length, 1);
    const header = authorizationFor(req, res, { username: '2002', password: users['2002']!.secret });
    assert.equal(header?.name, 'proxy-authorization');
    assert.match(header!.value, /algorithm=MD5/);
    const retry = authenticatedRequest(req, res, { username: '2002', password: users['2002']!.secret })!;
    assert.deepEqual(auth.verify(retry, 'proxy-authorization', CLIENT), { ok: true, username: '2002' });
  });

  test('MD5 is used when it is the only challenge this client can answer, and SHA-256 is preferred whatever the order', () => {
    const auth = server();
    const req = register();
    const res = challenge(auth, req, 401, '2001');
    const reversed = makeResponse(req, 401, undefined, 'srv', [...res.getAll('www-authenticate')].reverse().map((value) => ({ name: 'www-authenticate', value })));
    assert.match(authorizationFor(req, reversed, { username: '2001', password: 'x' })!.value, /algorithm=SHA-256/);
    const withUnknown = makeResponse(req, 401, undefined, 'srv', [
      { name: 'www-authenticate', value: 'Digest realm="pbx.test", nonce="abc", algorithm=SHA-512-256, qop="auth"' },
      { name: 'www-authenticate', value: res.getAll('www-authenticate').find((c) => c.includes('MD5'))! },
    ]);
    const retry = authenticatedRequest(req, withUnknown, { username: '2001', password: users['2001']!.secret })!;
    assert.match(retry.get('authorization')!, /algorithm=MD5/);
    assert.deepEqual(auth.verify(retry, 'authorization', CLIENT), { ok: true, username: '2001' });
  });

  test('a wrong password is answered, and the server refuses it', () => {
    const auth = server();
    const req = register();
    const retry = authenticatedRequest(req, challenge(auth, req, 401, '2001'), { username: '2001', password: 'not-it' })!;
    assert.deepEqual(auth.verify(retry, 'authorization', CLIENT), { ok: false, reason: 'wrong_password', username: '2001' });
  });

  test('the nonce count goes in nc, so the server accepts each count once', () => {
    const auth = server();
    const req = register();
    const value = auth.challenges(CLIENT, false, '2001')[0]!;
    const creds = { username: '2001', password: users['2001']!.secret };
    const withAuth = (v: string) => {
      const r = register();
      r.set('authorization', v);
      return r;
    };
    const one = answerChallenge(value, creds, 'REGISTER', req.uri, 1)!;
    const two = answerChallenge(value, creds, 'REGISTER', req.uri, 2)!;
    assert.match(two, /nc=00000002/);
    assert.equal(auth.verify(withAuth(one), 'authorization', CLIENT).ok, true);
    assert.equal(auth.verify(withAuth(two), 'authorization', CLIENT).ok, true);
    assert.deepEqual(auth.verify(withAuth(two), 'authorization', CLIENT), { ok: false, reason: 'replay', username: '2001' });
  });

  test('a challenge without qop (RFC 2069 style) is answered without nc/cnonce, and the server accepts it', () => {
    const auth = server();
    const value = auth.challenges(CLIENT, false, '2001')[0]!.replace(', qop="auth"', '');
    const req = register();
    const answer = answerChallenge(value, { username: '2001', password: users['2001']!.secret }, 'REGISTER', req.uri)!;
    assert.doesNotMatch(answer, /qop|nc=|cnonce/);
    req.set('authorization', answer);
    assert.equal(auth.verify(req, 'authorization', CLIENT).ok, true);
  });

  test('without qop a nonce is single use: the same answer again is a replay', () => {
    const auth = server();
    const value = auth.challenges(CLIENT, false, '2001')[0]!.replace(', qop="auth"', '');
    const answer = answerChallenge(value, { username: '2001', password: users['2001']!.secret }, 'REGISTER', register().uri)!;
    const req = () => {
      const r = register();
      r.set('authorization', answer);
      return r;
    };
    assert.equal(auth.verify(req(), 'authorization', CLIENT).ok, true);
    assert.deepEqual(auth.verify(req(), 'authorization', CLIENT), { ok: false, reason: 'replay', username: '2001' });
  });

  test('a nonce whose slot a newer nonce took is stale (the phone retries with a fresh one), and the fresh one is accepted', () => {
    // 8 slots: the ninth nonce issued after it takes the first nonce's slot.
    const auth = new DigestAuth(() => ({ realm: 'pbx.test', nonceTtlSeconds: 60, algorithms: ['MD5'] }), (u) => users[u], undefined, 8);
    const creds = { username: '2002', password: users['2002']!.secret };
    const signed = (value: string, nc = 1) => {
      const r = register('2002');
      r.set('authorization', answerChallenge(value, creds, 'REGISTER', r.uri, nc)!);
      return r;
    };
    const old = auth.challenges(CLIENT, false, '2002')[0]!;
    for (let i = 0; i < 7; i++) auth.challenges(CLIENT, false, '2002');
    assert.equal(auth.verify(signed(old), 'authorization', CLIENT).ok, true, 'seven newer nonces: its slot is still its own');
    auth.challenges(CLIENT, false, '2002');
    assert.deepEqual(auth.verify(signed(old, 2), 'authorization', CLIENT), { ok: false, reason: 'stale', username: '2002' });
    const fresh = auth.challenges(CLIENT, false, '2002')[0]!;
    assert.equal(auth.verify(signed(fresh), 'authorization', CLIENT).ok, true);
    assert.deepEqual(auth.verify(signed(fresh), 'authorization', CLIENT), { ok: false, reason: 'replay', username: '2002' });
  });

  test('answerChallenge() gives null for what it cannot answer: another scheme, an unknown algorithm, qop without auth, no nonce, garbage', () => {
    const creds = { username: 'u', password: 'p' };
    for (const c of [
      'Basic realm="x"',
      'Digest realm="x", nonce="n", algorithm=SHA-512-256',
      'Digest realm="x", nonce="n", qop="auth-int"',
      'Digest realm="x"',
      'Digest',
      'Digest realm="x", realm="y", nonce="n"',
    ]) {
      assert.equal(answerChallenge(c, creds, 'REGISTER', 'sip:x'), null, c);
    }
  });
});

describe('withAuthenticatedRetry()', () => {
  /** A registrar-like sender: challenges what has no valid credentials, 200 otherwise. */
  const sender = (auth: DigestAuth) => {
    const sent: SipRequest[] = [];
    const send = async (req: SipRequest) => {
      sent.push(req);
      const result = auth.verify(req, 'authorization', CLIENT);
      return result.ok ? makeResponse(req, 200, 'OK', 'srv') : challenge(auth, req, 401, '2001');
    };
    return { sent, send };
  };

  test('a challenged request is sent once more with credentials and succeeds', async () => {
    const { sent, send } = sender(server());
    const out = await withAuthenticatedRetry(send, register(), { username: '2001', password: users['2001']!.secret });
    assert.equal(out.response.status, 200);
    assert.equal(out.challenged, true);
    assert.equal(sent.length, 2);
    assert.equal(out.request, sent[1]);
  });

  test('wrong credentials are tried once, not in a loop; no credentials means no retry', async () => {
    const s1 = sender(server());
    const wrong = await withAuthenticatedRetry(s1.send, register(), { username: '2001', password: 'nope' });
    assert.equal(wrong.response.status, 401);
    assert.equal(s1.sent.length, 2);
    const s2 = sender(server());
    const none = await withAuthenticatedRetry(s2.send, register(), undefined);
    assert.equal(none.response.status, 401);
    assert.equal(none.challenged, true);
    assert.equal(s2.sent.length, 1);
  });

  test('an unchallenged answer is returned as it is', async () => {
    const out = await withAuthenticatedRetry(async (req) => makeResponse(req, 486, 'Busy Here', 't'), invite(), { username: 'x', password: 'y' });
    assert.equal(out.response.status, 486);
    assert.equal(out.challenged, false);
  });
});
