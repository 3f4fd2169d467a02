// `pbx doctor` finds each planted fault (wrong external IP, API port held by another
// program, a self-signed certificate, a stale device) and reports none on a healthy set-up.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { createToken, freePort, freeSipPort, runCli, RunningServer, tempDir, writeConfig } from '../helpers/server.ts';

const servers: RunningServer[] = [];
after(async () => {
  for (const s of servers) await s.stop();
});

const hostIp = Object.values(networkInterfaces())
  .flat()
  .find((a) => a && !a.internal && a.family === 'IPv4')?.address;

async function doctor(config: string) {
  const r = await runCli(['doctor', '--json', '--config', config]);
  const report = JSON.parse(r.stdout) as { ok: boolean; findings: { check: string; ok: boolean; message: string; fix?: string }[] };
  return { code: r.code, report, failed: (check: string) => report.findings.find((f) => f.check === check && !f.ok) };
}

/** A config listening on every interface, so the host address reaches it. */
function openConfig(dir: string, port: number, sipPort: number, externalIp: string, extra = ''): string {
  const file = writeConfig(dir, { port, sipPort, externalIp, extra });
  writeFileSync(file, readFileSync(file, 'utf8').replace('  host: 127.0.0.1\n', '  host: 0.0.0.0\n').replace('  sip_host: 127.0.0.1\n', '  sip_host: 0.0.0.0\n'));
  return file;
}

test('a healthy set-up has no findings and exits 0', { skip: !hostIp && 'no non-loopback IPv4 address on this host' }, async () => {
  const dir = tempDir();
  const port = await freePort();
  const file = openConfig(dir, port, await freeSipPort(), hostIp!);
  // TFTP on too: the doctor reads a file over it.
  writeFileSync(file, readFileSync(file, 'utf8').replace('provisioning:\n', `provisioning:\n  tftp_port: ${await freeSipPort()}\n`));
  const token = await createToken(file);
  const s = await RunningServer.start(file, port);
  servers.push(s);
  assert.equal((await s.api('POST', '/api/extensions', token, { number: '7001' })).status, 201);
  assert.equal((await s.api('POST', '/api/provisioning/devices', token, { mac_address: '001565d00001', extension_number: '7001', vendor: 'yealink', model: 'T46S' })).status, 201);
  assert.equal((await s.fetchFile('001565d00001.cfg', 'Yealink SIP-T46S 66.86.0.15 00:15:65:d0:00:01')).status, 200);
  await new Promise((r) => setTimeout(r, 400)); // fetch statistics are written behind
  const { code, report } = await doctor(file);
  assert.deepEqual(report.findings.filter((f) => !f.ok), []);
  assert.equal(report.ok, true);
  assert.equal(code, 0);
  const text = await runCli(['doctor', '--config', file]);
  assert.match(text.stdout, /✓ pbx answers on port \d+/);
  assert.match(text.stdout, /✓ TFTP on UDP port \d+ serves phone files/);
  assert.match(text.stdout, /No problems found/);
});

test('planted faults: wrong external IP and a stale device', async () => {
  const dir = tempDir();
  const port = await freePort();
  const file = writeConfig(dir, { port, sipPort: await freeSipPort(), externalIp: '203.0.113.77' });
  const token = await createToken(file);
  const s = await RunningServer.start(file, port);
  servers.push(s);
  assert.equal((await s.api('POST', '/api/extensions', token, { number: '7002' })).status, 201);
  assert.equal((await s.api('POST', '/api/provisioning/devices', token, { mac_address: '001565d00002', extension_number: '7002', vendor: 'yealink', model: 'T46S' })).status, 201);
  assert.equal((await s.fetchFile('001565d00002.cfg', 'Yealink SIP-T46S 66.86.0.15 00:15:65:d0:00:02')).status, 200);
  // The file changes; the phone is not registered, so nobody can tell it.
  assert.equal((await s.api('PUT', '/api/extensions/7002', token, { name: 'Renamed desk' })).status, 200);
  await new Promise((r) => setTimeout(r, 400));
  const { code, failed } = await doctor(file);
  assert.equal(code, 1);
  assert.match(failed('external-ip')!.message, /203\.0\.113\.77 is not an address of this host/);
  assert.ok(failed('external-ip')!.fix);
  assert.match(failed('devices-stale')!.message, /001565d00002/);
  assert.match(failed('devices-stale')!.fix!, /pbx device resync --stale/);
  assert.ok(failed('fetch'), 'the external address does not reach the server');
  assert.equal(failed('provisioning-auth'), undefined, 'the default first-fetch networks are local');

  // A first-fetch window open to the whole Internet is flagged, and so is no access control at all.
  const text = readFileSync(file, 'utf8');
  writeFileSync(file, text.replace('provisioning:\n', "provisioning:\n  auth:\n    first_fetch_networks: ['192.168.0.0/16', '0.0.0.0/0', 'fc00::/7']\n"));
  assert.match((await doctor(file)).failed('provisioning-auth')!.message, /not local: 0\.0\.0\.0\/0$/);
  writeFileSync(file, text.replace('provisioning:\n', 'provisioning:\n  auth:\n    mode: none\n'));
  assert.match((await doctor(file)).failed('provisioning-auth')!.message, /anyone who guesses a MAC/);
  writeFileSync(file, text);
});

test('planted fault: the API port is held by another program', async () => {
  const dir = tempDir();
  const port = await freePort();
  const file = writeConfig(dir, { port, sipPort: await freeSipPort() });
  const squatter = createServer((_req, res) => res.writeHead(404).end('nope'));
  await new Promise<void>((r) => squatter.listen(port, '127.0.0.1', () => r()));
  try {
    const { code, failed } = await doctor(file);
    assert.equal(code, 1);
    assert.match(failed('api-port')!.message, new RegExp(`Port ${port} is held by another program`));
    assert.match(failed('sip-port')!.message, /Nothing answers SIP/);
  } finally {
    squatter.close();
  }
});

test('planted fault: a self-signed HTTPS certificate', async () => {
  const dir = tempDir();
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=pbx.lab', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
  const port = await freePort();
  const file = writeConfig(dir, { port, sipPort: await freeSipPort() });
  writeFileSync(file, readFileSync(file, 'utf8').replace('api:\n  host: 127.0.0.1\n', 'api:\n  host: 127.0.0.1\n  ssl: { enabled: true, cert_file: cert.pem, key_file: key.pem }\n'));
  const s = await RunningServer.start(file, port);
  servers.push(s);
  const { code, failed } = await doctor(file);
  assert.equal(code, 1);
  assert.match(failed('certificate')!.message, /self-signed/);
  assert.match(failed('certificate')!.message, /not valid for 127\.0\.0\.1/);
  assert.ok(failed('plain-http'), 'HTTPS only: phones that cannot validate it have no way in');
  assert.ok(!failed('api-port'), 'pbx itself answers over HTTPS');

  // The fix: a plain-HTTP provisioning port. Applied live; phones' URLs follow it.
  const plain = await freePort();
  writeFileSync(file, readFileSync(file, 'utf8').replace('provisioning:\n', `provisioning:\n  http_port: ${plain}\n`));
  await s.waitForLog(new RegExp(`Provisioning also served over plain HTTP on port ${plain}`), 10_000);
  const again = await doctor(file);
  assert.ok(!again.failed('plain-http'));
  const common = await fetch(`http://127.0.0.1:${plain}/provision/y000000000000.boot`);
  assert.equal(common.status, 200, 'phones fetch over plain HTTP');
  assert.equal((await fetch(`http://127.0.0.1:${plain}/api/status`)).status, 404, 'the plain port serves phones only');
});

test('a doctor run leaves every device as it was: state, last fetch, request log', async () => {
  const dir = tempDir();
  const port = await freePort();
  const file = writeConfig(dir, { port, sipPort: await freeSipPort() });
  const token = await createToken(file);
  const s = await RunningServer.start(file, port);
  servers.push(s);
  assert.equal((await s.api('POST', '/api/extensions', token, { number: '7301' })).status, 201);
  // Just added: its first-fetch window is open to this host, so a probe of its own file would be served and recorded.
  assert.equal((await s.api('POST', '/api/provisioning/devices', token, { mac_address: '001565d00301', extension_number: '7301', vendor: 'yealink', model: 'T46S' })).status, 201);
  const before = (await s.api('GET', '/api/provisioning/devices/001565d00301', token)).json;
  assert.equal(before.sync_state, 'never provisioned');
  const r = await runCli(['doctor', '--json', '--config', file]);
  const report = JSON.parse(r.stdout) as { findings: { check: string; ok: boolean; message: string }[] };
  assert.ok(report.findings.some((f) => f.check === 'fetch' && f.ok), JSON.stringify(report.findings));
  await new Promise((res) => setTimeout(res, 400)); // anything recorded is written behind
  const after = (await s.api('GET', '/api/provisioning/devices/001565d00301', token)).json;
  for (const k of ['sync_state', 'last_provisioned', 'last_ip', 'last_user_agent', 'last_fetch_port', 'first_fetch_window_until']) assert.deepEqual(after[k], before[k], k);
  const requests = (await s.api('GET', '/api/provisioning/requests?mac=001565d00301', token)).json.requests;
  assert.deepEqual(requests, [], 'no request of the device was logged');
  assert.doesNotMatch(await s.settledLog(), /Provisioning config delivered to 001565d00301|delivered.*00:15:65:d0:03:01/);
});
