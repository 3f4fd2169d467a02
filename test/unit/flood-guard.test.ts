import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FloodGuard, SCANNER_UA } from '../../src/pbx/flood-guard.ts';
import { SecurityLog } from '../../src/security/security-log.ts';
import { tempDir } from '../helpers/server.ts';

const DEFAULTS = { max_requests: 16, window_seconds: 2, max_auth_failures: 10, auth_window_seconds: 3600, auth_ban_seconds: 3600, max_extension_auth_failures: 20, scanner_packets: 3, ban_seconds: 300 };

function guard(allow: string[] = []) {
  const file = join(tempDir(), 'security.log');
  const log = new SecurityLog(() => file);
  const g = new FloodGuard(() => ({ ...DEFAULTS, allow }), log, ['192.0.2.1']);
  return { g, log, file };
}

test('more than 16 requests in the window bans the source; its packets are then dropped unread', async () => {
  const { g, log, file } = guard();
  for (let i = 0; i < 16; i++) assert.equal(g.request('198.51.100.7'), true);
  assert.equal(g.request('198.51.100.7'), false, 'the 17th bans');
  assert.equal(g.admit('198.51.100.7'), false);
  assert.equal(g.admit('198.51.100.8'), true, 'others are untouched');
  assert.deepEqual(g.bans().map((b) => b.ip), ['198.51.100.7']);
  await log.close();
  assert.match(readFileSync(file, 'utf8'), /pbx-security event=ban ip=198\.51\.100\.7 service=sip reason=flood count=17 window=2s duration=300s/);
});

test('repeated authentication failures and scanner User-Agents ban', async () => {
  const { g, log, file } = guard();
  for (let i = 0; i < 9; i++) g.authFailure('203.0.113.5');
  assert.equal(g.admit('203.0.113.5'), true);
  g.authFailure('203.0.113.5');
  assert.equal(g.admit('203.0.113.5'), false, 'the 10th failure bans');
  assert.ok(SCANNER_UA.test('friendly-scanner'));
  assert.ok(SCANNER_UA.test('sipcli/v1.8'));
  assert.ok(!SCANNER_UA.test('Yealink SIP-T46S 66.86.0.15'));
  // One scanner datagram (its source may be forged) is dropped, not banned; the third in the window bans.
  g.scanner('203.0.113.9', 'friendly-scanner');
  assert.equal(g.admit('203.0.113.9'), true, 'one UDP datagram is no evidence');
  g.scanner('203.0.113.9', 'friendly-scanner');
  g.scanner('203.0.113.9', 'friendly-scanner');
  assert.equal(g.admit('203.0.113.9'), false);
  // Over a connection the source is proven: one request bans.
  g.scanner('203.0.113.10', 'sipvicious', true);
  assert.equal(g.admit('203.0.113.10'), false);
  await log.close();
  const text = readFileSync(file, 'utf8');
  assert.match(text, /event=ban ip=203\.0\.113\.9 service=sip reason=scanner count=3 .* user_agent=friendly-scanner/);
  assert.match(text, /event=ban ip=203\.0\.113\.5 service=sip reason=auth-failures count=10 window=3600s duration=3600s/);
});

test('this server\'s own addresses and the allow list are never banned', () => {
  const { g } = guard(['10.8.0.0/16', '2001:db8::/32']);
  for (const ip of ['192.0.2.1', '10.8.44.2', '2001:db8::7']) {
    for (let i = 0; i < 100; i++) g.request(ip);
    for (let i = 0; i < 50; i++) g.authFailure(ip);
    g.scanner(ip, 'friendly-scanner');
    assert.equal(g.admit(ip), true, ip);
  }
});

test('an address where a phone is registered is not banned by what UDP brings (a forged source), only by a connection', () => {
  const { g } = guard();
  const phoneIp = '198.51.100.20';
  g.registrations = { hasBindingFrom: (ip) => ip === phoneIp, isRegisteredFrom: () => false };
  for (let i = 0; i < 5; i++) g.scanner(phoneIp, 'friendly-scanner');
  for (let i = 0; i < 40; i++) g.request(phoneIp);
  for (let i = 0; i < 30; i++) g.authFailure(phoneIp, '9001');
  assert.equal(g.admit(phoneIp), true, 'still reachable');
  g.scanner(phoneIp, 'friendly-scanner', true);
  assert.equal(g.admit(phoneIp), false, 'a scanner over TCP proves its address');
});

test('an extension guessed at from many addresses: only where its phones are registered may it authenticate', () => {
  const { g } = guard();
  g.registrations = { hasBindingFrom: () => false, isRegisteredFrom: (ext, ip) => ext === '9001' && ip === '198.51.100.1' };
  // 19 failures from 19 addresses (each far below its own limit): not yet.
  for (let i = 0; i < 19; i++) g.authFailure(`203.0.113.${100 + i}`, '9001');
  assert.equal(g.guessing('9001', '203.0.113.200'), false);
  g.authFailure('203.0.113.119', '9001');
  assert.equal(g.guessing('9001', '203.0.113.200'), true, 'the 20th: a new address may not try');
  assert.equal(g.guessing('9001', '198.51.100.1'), false, "the phone's own address keeps working");
  assert.equal(g.guessing('9002', '203.0.113.200'), false, 'other extensions are untouched');
  for (let i = 0; i < 19; i++) assert.equal(g.admit(`203.0.113.${100 + i}`), true, 'no address was banned for one or two guesses');
});

test("a ban another node made is held (longest wins), except for this server's own and allowed addresses; a ban made here is told", async () => {
  const { g, log } = guard(['203.0.113.0/24']);
  const told: [string, number][] = [];
  g.onBan = (ip, until) => told.push([ip, until]);
  const until = Date.now() + 60_000;
  g.applyBan('198.51.100.9', until);
  g.applyBan('198.51.100.9', until - 30_000);
  assert.equal(g.admit('198.51.100.9'), false);
  assert.deepEqual(g.bans(), [{ ip: '198.51.100.9', until: new Date(until).toISOString() }], 'an older announcement does not shorten it');
  g.applyBan('192.0.2.1', until);
  g.applyBan('203.0.113.5', until);
  assert.equal(g.admit('192.0.2.1'), true, 'never its own address');
  assert.equal(g.admit('203.0.113.5'), true, 'never an allowed one');
  assert.deepEqual(told, [], 'what it learnt is not told again');
  for (let i = 0; i < 17; i++) g.request('198.51.100.10');
  assert.equal(told.length, 1);
  assert.equal(told[0]![0], '198.51.100.10');
  assert.ok(Math.abs(told[0]![1] - (Date.now() + 300_000)) < 2000, 'told until when');
  await log.close();
});
