// Unknown users are challenged like real ones: when some extensions are MD5-only (old
// phones), a scanner must not learn which users exist from the challenge's algorithms.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { DigestAuth } from '../../src/pbx/digest-auth.ts';
import type { DigestAlgorithm } from '../../src/sip/digest.ts';

const algos = (challenges: string[]) => challenges.map((c) => /algorithm=([\w-]+)/.exec(c)![1]).join(',');

test('an unknown user gets the algorithms of a real one, in the real proportions, the same every time', () => {
  const users = new Map<string, DigestAlgorithm[]>();
  for (let i = 0; i < 100; i++) users.set(String(1000 + i), i % 4 === 0 ? ['MD5'] : ['SHA-256', 'MD5']);
  const key = randomBytes(32);
  const make = () =>
    new DigestAuth(
      () => ({ realm: 'pbx', nonceTtlSeconds: 300, algorithms: ['SHA-256', 'MD5'] }),
      (u) => (users.has(u) ? { secret: 'x', algorithms: users.get(u)! } : undefined),
      { key, sets: () => [...users.values()] },
    );
  const auth = make();
  assert.equal(algos(auth.challenges('10.0.0.1', false, '1000')), 'MD5', 'a real MD5-only user');
  assert.equal(algos(auth.challenges('10.0.0.1', false, '1001')), 'SHA-256,MD5', 'a real default user');

  let md5Only = 0;
  const n = 4000;
  for (let i = 0; i < n; i++) {
    const name = `9${i}`;
    const a = algos(auth.challenges('10.0.0.1', false, name));
    assert.ok(a === 'MD5' || a === 'SHA-256,MD5');
    assert.equal(algos(make().challenges('10.0.0.9', true, name)), a, 'the same answer again, from another instance with the same key');
    if (a === 'MD5') md5Only++;
  }
  // 25 % of the real users are MD5-only; so are about 25 % of the unknown ones.
  assert.ok(Math.abs(md5Only / n - 0.25) < 0.03, `${md5Only} of ${n}`);
});

test('without per-extension algorithms, unknown users get the site default', () => {
  const auth = new DigestAuth(
    () => ({ realm: 'pbx', nonceTtlSeconds: 300, algorithms: ['SHA-256', 'MD5'] }),
    () => undefined,
    { key: randomBytes(32), sets: () => [] },
  );
  assert.equal(algos(auth.challenges('10.0.0.1', false, 'nobody')), 'SHA-256,MD5');
});

test('MD5-only clients (baresip, JsSIP, SIPp …) are challenged with MD5 alone, existing and unknown users alike; others keep both', () => {
  const users = new Map<string, DigestAlgorithm[]>([['2001', ['SHA-256', 'MD5']], ['2002', ['SHA-256']]]);
  const auth = new DigestAuth(
    () => ({ realm: 'pbx', nonceTtlSeconds: 300, algorithms: ['SHA-256', 'MD5'] }),
    (u) => (users.has(u) ? { secret: 'x', algorithms: users.get(u)! } : undefined),
    { key: randomBytes(32), sets: () => [['SHA-256', 'MD5']] },
  );
  const baresip = 'baresip v1.0.0 (x86_64/linux)';
  assert.equal(algos(auth.challenges('10.0.0.1', false, '2001', baresip)), 'MD5');
  assert.equal(algos(auth.challenges('10.0.0.1', false, '2999', baresip)), 'MD5', 'an unknown user looks the same');
  assert.equal(algos(auth.challenges('10.0.0.1', false, '2001', 'JsSIP 3.10.0')), 'MD5');
  assert.equal(algos(auth.challenges('10.0.0.1', false, '2001', 'Yealink SIP-T46S 66.86.0.15')), 'SHA-256,MD5', 'phones that read every challenge keep the preferred order');
  assert.equal(algos(auth.challenges('10.0.0.1', false, '2002', baresip)), 'SHA-256', 'an extension that refuses MD5 still does');
});
