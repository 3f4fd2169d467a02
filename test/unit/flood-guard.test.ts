import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FloodGuard, SCANNER_UA } from '../../src/pbx/flood-guard.ts';
import { SecurityLog } from '../../src/security/security-log.ts';
import { tempDir } from '../helpers/server.ts';

function guard(allow: string[] = []) {
  const file = join(tempDir(), 'security.log');
  const log = new SecurityLog(() => file);
  const g = new FloodGuard(() => ({ max_requests: 16, window_seconds: 2, max_auth_failures: 10, ban_seconds: 300, allow }), log, ['192.0.2.1']);
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
  g.scanner('203.0.113.9', 'friendly-scanner');
  assert.equal(g.admit('203.0.113.9'), false);
  await log.close();
  assert.match(readFileSync(file, 'utf8'), /event=ban ip=203\.0\.113\.9 service=sip reason=scanner count=1 .* user_agent=friendly-scanner/);
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
