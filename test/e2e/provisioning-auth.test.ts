// Per-device files are handed only to the phone: HTTP digest with the device's
// provisioning credential (server nonces, single use), a first-fetch window for a phone
// just added, common files open and secret-free, unknown files 404 before any
// challenge, wrong credentials counted towards a ban, and the credential sealed at rest.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createToken, freePort, freeSipPort, RunningServer, tempDir, writeConfig } from '../helpers/server.ts';
import { digestAuthorization, getFrom, getWithDigest, parseChallenges } from '../helpers/http-digest.ts';

const UA = 'Yealink SIP-T46S 66.86.0.15 00:15:65:f0:00:01';
const MAC = '001565f00001';
let server: RunningServer;
let token: string;
let dir: string;
let sipSecret: string;
let cred: { user: string; password: string };

before(async () => {
  dir = tempDir();
  const port = await freePort();
  // No first-fetch window here: every fetch of a per-device file needs the credential.
  const file = writeConfig(dir, { port, sipPort: await freeSipPort() });
  writeFileSync(file, readFileSync(file, 'utf8').replace('provisioning:\n', 'provisioning:\n  auth:\n    first_fetch_minutes: 0\n'));
  token = await createToken(file);
  server = await RunningServer.start(file, port);
  const ext = await server.api('POST', '/api/extensions', token, { number: '7001' });
  sipSecret = ext.json.password;
  const dev = await server.api('POST', '/api/provisioning/devices', token, { mac_address: MAC, extension_number: '7001', vendor: 'yealink', model: 'T46S' });
  assert.equal(dev.status, 201);
  assert.equal(dev.json.provisioning_username, MAC);
  assert.match(dev.json.provisioning_password, /^[A-Za-z0-9]{20}$/, 'a strong credential is generated and shown once');
  cred = { user: dev.json.provisioning_username, password: dev.json.provisioning_password };
  const again = await server.api('GET', `/api/provisioning/devices/${MAC}`, token);
  assert.equal(again.json.provisioning_password, undefined, 'never shown again');
  assert.ok(!again.text.includes(cred.password));
});
after(async () => {
  await server?.stop();
});

const path = `/provision/${MAC}.cfg`;

test('a per-device file: 401 without or with a wrong credential, 200 with the right one (MD5 and SHA-256)', async () => {
  const none = await getFrom({ port: server.port, path, headers: { 'user-agent': UA } });
  assert.equal(none.status, 401);
  assert.ok(!none.body.includes(sipSecret));
  const challenges = parseChallenges([none.headers['www-authenticate'] ?? []].flat().join(', '));
  assert.deepEqual(challenges.map((c) => c.algorithm), ['SHA-256', 'MD5'], 'strongest first');
  assert.ok(challenges.every((c) => c.realm === 'pbx-provisioning' && c.qop === 'auth' && c.nonce.length >= 16));
  assert.ok(!/Basic/.test(String(none.headers['www-authenticate'])), 'no basic auth over plain HTTP');

  const wrong = await getWithDigest({ port: server.port, path, headers: { 'user-agent': UA } }, { user: cred.user, password: 'WrongPassword123' });
  assert.equal(wrong.status, 401);
  const otherUser = await getWithDigest({ port: server.port, path, headers: { 'user-agent': UA } }, { user: '001565f00002', password: cred.password });
  assert.equal(otherUser.status, 401, "another device's user name is refused");

  for (const algorithm of ['MD5', 'SHA-256'] as const) {
    const ok = await getWithDigest({ port: server.port, path, headers: { 'user-agent': UA } }, cred, algorithm);
    assert.equal(ok.status, 200, algorithm);
    assert.match(ok.body, new RegExp(`account\\.1\\.password = ${sipSecret}`));
    assert.match(ok.body, new RegExp(`static\\.auto_provision\\.server\\.username = ${cred.user}\\n`));
    assert.match(ok.body, new RegExp(`static\\.auto_provision\\.server\\.password = ${cred.password}\\n`), 'the file hands the phone its credential');
  }
});

test('a replayed Authorization is refused, even at once and from the same address', async () => {
  const ok = await getWithDigest({ port: server.port, path, headers: { 'user-agent': UA } }, cred);
  assert.equal(ok.status, 200);
  const replay = await getFrom({ port: server.port, path, headers: { 'user-agent': UA, authorization: ok.authorization! } });
  assert.equal(replay.status, 401);
  assert.match(String(replay.headers['www-authenticate']), /stale=true/, 'the phone is told to retry with the new nonce');
  assert.ok(!replay.body.includes(sipSecret));

  // A nonce is also bound to the address it was sent to.
  const first = await getFrom({ port: server.port, path, localAddress: '127.0.0.5' });
  const c = parseChallenges([first.headers['www-authenticate'] ?? []].flat().join(', ')).find((x) => x.algorithm === 'MD5')!;
  const stolen = await getFrom({ port: server.port, path, localAddress: '127.0.0.6', headers: { authorization: digestAuthorization(c, cred, 'GET', path) } });
  assert.equal(stolen.status, 401);
  // And to the file it was computed for.
  const second = await getFrom({ port: server.port, path });
  const c2 = parseChallenges([second.headers['www-authenticate'] ?? []].flat().join(', ')).find((x) => x.algorithm === 'MD5')!;
  const otherUri = await getFrom({ port: server.port, path, headers: { authorization: digestAuthorization(c2, cred, 'GET', '/provision/y000000000000.cfg') } });
  assert.equal(otherUri.status, 401);
});

test('common files need no credential and hold no secret; unknown files 404 before any challenge', async () => {
  for (const name of ['y000000000000.boot', 'y000000000066.cfg', `${MAC}.boot`]) {
    const r = await getFrom({ port: server.port, path: `/provision/${name}`, headers: { 'user-agent': UA } });
    assert.equal(r.status, 200, name);
    assert.ok(!r.body.includes(sipSecret) && !r.body.includes(cred.password), `${name} holds no secret`);
  }
  for (const name of ['001565abcdef.cfg', 'nothing.txt', 'cfg000b82abcdef.xml']) {
    const r = await getFrom({ port: server.port, path: `/provision/${name}`, localAddress: '127.0.0.7' });
    assert.equal(r.status, 404, name);
    assert.equal(r.headers['www-authenticate'], undefined, `${name}: no challenge`);
  }
});

test('the first-fetch window: a device just added may fetch without its credential, for a while, from listed networks', async () => {
  const put = await server.api('PUT', '/api/config', token, { values: { 'provisioning.auth.first_fetch_minutes': 15 } });
  assert.equal(put.status, 200, put.text);
  await server.api('POST', '/api/extensions', token, { number: '7002' });
  const dev = await server.api('POST', '/api/provisioning/devices', token, { mac_address: '00:15:65:f0:00:02', extension_number: '7002', vendor: 'yealink', model: 'T46S' });
  assert.ok(dev.json.first_fetch_window_until, 'the window shows in the API');
  const p2 = '/provision/001565f00002.cfg';
  // Credentials that come with a request are checked inside the window too: a wrong one is a 401.
  const wrong = await getFrom({
    port: server.port,
    path: p2,
    localAddress: '127.0.0.8',
    headers: { authorization: `Digest username="001565f00002", realm="pbx-provisioning", nonce="made-up", uri="${p2}", response="00000000000000000000000000000000"` },
  });
  assert.equal(wrong.status, 401, 'a wrong credential inside the window is refused');
  const wrongBasic = await getFrom({ port: server.port, path: p2, localAddress: '127.0.0.8', headers: { authorization: `Basic ${Buffer.from('001565f00002:nope').toString('base64')}` } });
  assert.equal(wrongBasic.status, 401);
  const first = await getFrom({ port: server.port, path: p2, localAddress: '127.0.0.8' });
  assert.equal(first.status, 200, 'first fetch without a credential, from a local network');
  const cred2 = {
    user: /static\.auto_provision\.server\.username = (.*)/.exec(first.body)![1]!,
    password: /static\.auto_provision\.server\.password = (.*)/.exec(first.body)![1]!,
  };
  assert.equal(cred2.password, dev.json.provisioning_password, 'the file hands over the credential');
  // The first device authenticated before: its window is closed for good.
  assert.equal((await getFrom({ port: server.port, path })).status, 401);

  // The window ends (here: the setting drops to 0): from now on the credential is needed.
  await server.api('PUT', '/api/config', token, { values: { 'provisioning.auth.first_fetch_minutes': 0 } });
  assert.equal((await getFrom({ port: server.port, path: p2, localAddress: '127.0.0.8' })).status, 401);
  assert.equal((await getWithDigest({ port: server.port, path: p2, localAddress: '127.0.0.8' }, cred2)).status, 200);
  const shown = await server.api('GET', '/api/provisioning/devices/001565f00002', token);
  assert.equal(shown.json.first_fetch_window_until, null);
  assert.ok(shown.json.last_authenticated_at, 'the authenticated fetch is recorded');

  // Reopened by the admin, but only for the listed networks.
  await server.api('PUT', '/api/config', token, { values: { 'provisioning.auth.first_fetch_minutes': 15, 'provisioning.auth.first_fetch_networks': ['10.0.0.0/8'] } });
  const reopened = await server.api('PUT', '/api/provisioning/devices/001565f00002', token, { open_first_fetch_window: true });
  assert.ok(reopened.json.first_fetch_window_until);
  assert.equal((await getFrom({ port: server.port, path: p2, localAddress: '127.0.0.8' })).status, 401, '127.0.0.8 is not in first_fetch_networks');
  await server.api('PUT', '/api/config', token, { values: { 'provisioning.auth.first_fetch_networks': ['127.0.0.0/8'], 'provisioning.auth.first_fetch_minutes': 0 } });

  // A regenerated credential is shown once and the old one stops working.
  const regen = await server.api('PUT', '/api/provisioning/devices/001565f00002', token, { regenerate_provisioning_password: true });
  assert.match(regen.json.provisioning_password, /^[A-Za-z0-9]{20}$/);
  assert.equal((await getWithDigest({ port: server.port, path: p2 }, cred2)).status, 401);
  assert.equal((await getWithDigest({ port: server.port, path: p2 }, { user: cred2.user, password: regen.json.provisioning_password })).status, 200);
});

test('wrong credentials from one address are banned; the phone elsewhere keeps provisioning', async () => {
  const statuses: number[] = [];
  for (let i = 0; i < 20; i++) {
    const r = await getWithDigest({ port: server.port, path, localAddress: '127.0.0.9' }, { user: cred.user, password: `Guess${i}abcdefgh` });
    statuses.push(r.status);
    if (i % 5 === 0) assert.equal((await getWithDigest({ port: server.port, path, localAddress: '127.0.0.10' }, cred)).status, 200);
  }
  const ban = statuses.indexOf(403);
  assert.ok(ban > 0 && ban <= 11, `banned after ${ban} guesses: ${statuses.join(',')}`);
  assert.ok(statuses.slice(0, ban).every((s) => s === 401));
  await new Promise((r) => setTimeout(r, 300));
  const log = readFileSync(join(dir, 'data/security.log'), 'utf8');
  assert.match(log, /event=auth-failure ip=127\.0\.0\.9 service=provisioning mac=001565f00001 file=001565f00001\.cfg reason=wrong-credential/);
  assert.match(log, /event=ban ip=127\.0\.0\.9 service=provisioning reason=auth-failures count=11 window=60s duration=3600s/);
  assert.match(log, /event=sensitive-fetch ip=127\.0\.0\.10 mac=001565f00001 file=001565f00001\.cfg status=200 auth=digest/);
});

test('the database copied alone reveals no provisioning credential; the logs hold none', async () => {
  await new Promise((r) => setTimeout(r, 300));
  const data = join(dir, 'data');
  for (const f of readdirSync(data).filter((n) => n.startsWith('pbx.db'))) {
    const bytes = readFileSync(join(data, f));
    assert.equal(bytes.indexOf(cred.password), -1, `${f} holds the provisioning credential in clear`);
    assert.equal(bytes.indexOf(sipSecret), -1, `${f} holds the SIP secret in clear`);
  }
  assert.ok(!(await server.settledLog()).includes(cred.password), 'server log');
  assert.ok(!readFileSync(join(data, 'security.log'), 'utf8').includes(cred.password), 'security log');
});

test('a remote phone does its first fetch through the site URL key; nothing else opens for it', async () => {
  const key = 'SiteKey_0123456789abcdef';
  const put = await server.api('PUT', '/api/config', token, {
    values: { 'provisioning.auth.first_fetch_minutes': 15, 'provisioning.auth.first_fetch_networks': ['10.0.0.0/8'], 'provisioning.auth.url_key': key },
  });
  assert.equal(put.status, 200, put.text);
  assert.equal((await server.api('PUT', '/api/config', token, { values: { 'provisioning.auth.url_key': 'short' } })).status, 400, 'a weak key is refused');
  await server.api('POST', '/api/extensions', token, { number: '7003' });
  const dev = await server.api('POST', '/api/provisioning/devices', token, { mac_address: '001565f00003', extension_number: '7003', vendor: 'yealink', model: 'T46S' });
  const file = '001565f00003.cfg';
  // 127.0.0.11 is not on first_fetch_networks: a remote address for this test.
  assert.equal((await getFrom({ port: server.port, path: `/provision/${file}`, localAddress: '127.0.0.11' })).status, 401);
  assert.equal((await getFrom({ port: server.port, path: `/provision/NotTheKey_0123456789/${file}`, localAddress: '127.0.0.11' })).status, 401, 'a wrong key is no key');
  const keyed = await getFrom({ port: server.port, path: `/provision/${key}/${file}`, localAddress: '127.0.0.11' });
  assert.equal(keyed.status, 200, 'inside the window, through the key, from anywhere');
  assert.match(keyed.body, new RegExp(`static\\.auto_provision\\.server\\.password = ${dev.json.provisioning_password}`));
  // The key opens no window that is closed: the first device authenticated long ago.
  assert.equal((await getFrom({ port: server.port, path: `/provision/${key}/${MAC}.cfg`, localAddress: '127.0.0.11' })).status, 401);
  // Once the window is over, fetches through the key need the credential like any other.
  await server.api('PUT', '/api/config', token, { values: { 'provisioning.auth.first_fetch_minutes': 0 } });
  assert.equal((await getFrom({ port: server.port, path: `/provision/${key}/${file}`, localAddress: '127.0.0.11' })).status, 401);
  const withLogin = await getWithDigest({ port: server.port, path: `/provision/${key}/${file}`, localAddress: '127.0.0.11' }, { user: '001565f00003', password: dev.json.provisioning_password });
  assert.equal(withLogin.status, 200);
  assert.ok(withLogin.authorization, 'answered a challenge');
  await server.api('PUT', '/api/config', token, { values: { 'provisioning.auth.url_key': '', 'provisioning.auth.first_fetch_networks': ['127.0.0.0/8'], 'provisioning.auth.first_fetch_minutes': 0 } });
});
