// Enumeration defence: an address that walks through random MACs is banned long before
// the 50th, the ban is in the security log in the documented format (and matched by the
// shipped fail2ban filter), and a real phone from another address keeps provisioning.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getWithDigest } from '../helpers/http-digest.ts';
import { createToken, freePort, freeSipPort, ROOT, RunningServer, securityLogWith, tempDir, writeConfig } from '../helpers/server.ts';

let server: RunningServer | undefined;
after(async () => {
  await server?.stop();
});

/** GET from a chosen local address (all of 127.0.0.0/8 is this host). */
function getFrom(localAddress: string, port: number, path: string, ua: string): Promise<number> {
  return new Promise((ok, fail) => {
    const req = request({ host: '127.0.0.1', port, path, localAddress, headers: { 'user-agent': ua } }, (res) => {
      res.resume();
      res.on('end', () => ok(res.statusCode ?? 0));
    });
    req.on('error', fail);
    req.end();
  });
}

test('a MAC-walking scanner is banned before its 50th guess; a real phone keeps provisioning', async () => {
  const dir = tempDir();
  const port = await freePort();
  const file = writeConfig(dir, { port, sipPort: await freeSipPort() });
  // No first-fetch window: the real phone shows its provisioning credential.
  writeFileSync(file, readFileSync(file, 'utf8').replace('provisioning:\n', 'provisioning:\n  auth:\n    first_fetch_minutes: 0\n'));
  const token = await createToken(file);
  server = await RunningServer.start(file, port);
  assert.equal((await server.api('POST', '/api/extensions', token, { number: '8001' })).status, 201);
  const dev = await server.api('POST', '/api/provisioning/devices', token, { mac_address: '001565e00001', extension_number: '8001', vendor: 'yealink', model: 'T46S' });
  assert.equal(dev.status, 201);
  const cred = { user: dev.json.provisioning_username, password: dev.json.provisioning_password };
  const phoneUa = 'Yealink SIP-T46S 66.86.0.15 00:15:65:e0:00:01';
  const phoneFetch = async (from: string) =>
    (await getWithDigest({ port, path: '/provision/001565e00001.cfg', localAddress: from, headers: { 'user-agent': phoneUa } }, cred)).status;

  const statuses: number[] = [];
  for (let i = 0; i < 50; i++) {
    const mac = `001565${(0xa00000 + i * 7919).toString(16).padStart(6, '0')}`;
    statuses.push(await getFrom('127.0.0.2', port, `/provision/${mac}.cfg`, 'Yealink SIP-T46S 66.86.0.15'));
    // The real phone, from its own address, is never disturbed.
    if (i % 10 === 0) assert.equal(await phoneFetch('127.0.0.3'), 200);
  }
  const firstBan = statuses.indexOf(403);
  assert.ok(firstBan > 0 && firstBan < 49, `banned at guess ${firstBan + 1}: ${statuses.join(',')}`);
  assert.ok(statuses.slice(firstBan).every((s) => s === 403), 'stays banned');
  assert.equal(statuses.slice(0, firstBan).filter((s) => s === 404).length, firstBan, 'plain 404s before the ban');
  // Banned means banned for every file, even a real device's.
  assert.equal(await phoneFetch('127.0.0.2'), 403);
  assert.equal(await phoneFetch('127.0.0.3'), 200);

  // The last line written: the real phone's fetch after the ban (the log is buffered).
  const log = await securityLogWith(dir, /event=ban[^]*event=sensitive-fetch ip=127\.0\.0\.3 /);
  const ban = log.split('\n').find((l) => l.includes('event=ban'));
  assert.match(ban!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z pbx-security event=ban ip=127\.0\.0\.2 service=provisioning reason=unknown-macs count=11 window=60s duration=3600s$/);
  assert.match(log, /event=sensitive-fetch ip=127\.0\.0\.3 mac=001565e00001 file=001565e00001\.cfg status=200 auth=digest$/m);

  // The shipped fail2ban filter matches the ban and reads the address from it.
  const filter = readFileSync(join(ROOT, 'contrib/fail2ban/filter.d/pbx.conf'), 'utf8');
  const failregex = /^failregex = (.*)$/m.exec(filter)![1]!.replace('<HOST>', '(?<host>[0-9a-fA-F:.]+)').replace(/\(\?:/g, '(?:');
  const m = new RegExp(failregex).exec(ban!);
  assert.equal(m?.groups?.host, '127.0.0.2');
  assert.ok(!new RegExp(failregex).test(log.split('\n').find((l) => l.includes('sensitive-fetch'))!), 'a served phone is no failure');
});

test('provisioning.allow_networks: only those addresses may fetch phone files (applied live)', async () => {
  const s = server!;
  const file = s.configFile;
  const original = readFileSync(file, 'utf8');
  writeFileSync(file, original.replace('provisioning:\n', 'provisioning:\n  allow_networks: [127.0.0.3/32, 10.0.0.0/8]\n'));
  await s.waitForLog(/Configuration reloaded \(file changed\): provisioning\.allow_networks/, 10_000);
  const ua = 'Yealink SIP-T46S 66.86.0.15 00:15:65:e0:00:01';
  assert.equal(await getFrom('127.0.0.3', s.port, '/provision/y000000000000.boot', ua), 200);
  assert.equal(await getFrom('127.0.0.4', s.port, '/provision/001565e00001.cfg', ua), 403);
  assert.equal(await getFrom('127.0.0.4', s.port, '/provision/y000000000000.boot', ua), 403, 'common files too');
  writeFileSync(file, original);
});
