// A REGISTER sweep from another host (a network namespace with its own address) at a
// few hundred per second is banned, while a legitimate phone on another address
// registers and calls during the scan; and from outside, an existing and a missing
// extension look the same.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createToken, freePort, freeSipPort, RunningServer, tempDir, writeConfig } from '../helpers/server.ts';
import { TestUa } from '../helpers/sip-client.ts';
import { sipp } from '../helpers/sipp.ts';
import { Netns } from '../helpers/netns.ts';

const dir = tempDir();
const netns = new Netns('scan');
const ns = netns.name;
const hostIp = netns.hostIp;
const scannerIp = netns.peerIp;
let server: RunningServer;
let sipPort: number;
const agents: TestUa[] = [];
const PW: Record<string, string> = { '9001': 'mN3-bV4-cX5-zL6', '9002': 'pO9-iU8-yT7-rE6' };

before(async () => {
  sipPort = await freeSipPort();
  const port = await freePort();
  const file = writeConfig(dir, { port, sipPort, extra: 'voicemail:\n  enabled: false\n' });
  const text = readFileSync(file, 'utf8').replace('  sip_host: 127.0.0.1\n', '  sip_host: 0.0.0.0\n');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(file, text);
  const token = await createToken(file);
  server = await RunningServer.start(file, port);
  for (const [n, pw] of Object.entries(PW)) assert.equal((await server.api('POST', '/api/extensions', token, { number: n, password: pw })).status, 201);
});

after(async () => {
  for (const a of agents) a.close();
  await server?.stop();
  netns.close();
});

test('an existing and a missing extension get the same answer, with or without a (wrong) password', async () => {
  const ua = await new TestUa({ host: '127.0.0.1', port: sipPort }, '9001', PW['9001']!).open();
  agents.push(ua);
  const shape = (r: { status: number; reason: string; headers: Map<string, string[]> }) => ({
    status: r.status,
    reason: r.reason,
    headers: [...r.headers.keys()].sort(),
    challenges: (r.headers.get('www-authenticate') ?? []).map((c) => c.replace(/nonce="[^"]+"/, 'nonce=…')),
  });
  const existing = await ua.request('REGISTER', { to: '<sip:9001@127.0.0.1>', from: '<sip:9001@127.0.0.1>;tag=a' });
  const missing = await ua.request('REGISTER', { to: '<sip:9876@127.0.0.1>', from: '<sip:9876@127.0.0.1>;tag=b' });
  assert.equal(existing.status, 401);
  assert.deepEqual(shape(existing), shape(missing));
  const wrongPassword = await ua.register({ password: 'not-it-at-all' });
  const unknownUser = await new TestUa({ host: '127.0.0.1', port: sipPort }, '9876', 'not-it-at-all').open();
  agents.push(unknownUser);
  const ghost = await unknownUser.register();
  assert.equal(wrongPassword.reply.status, 401);
  assert.deepEqual(shape(wrongPassword.reply), shape(ghost.reply));
});

test('a REGISTER sweep from another address is banned; a real phone registers and calls meanwhile', async () => {
  const rows = Array.from({ length: 300 }, (_, i) => String(9000 + ((i * 37) % 1000)));
  const scan = sipp({ scenario: 'register-scan.xml', rows, localPort: 5070, localIp: scannerIp, netns: ns, server: { host: hostIp, port: sipPort }, dir, rate: 300, calls: 600, timeoutSeconds: 15, extra: ['-recv_timeout', '1500'] });

  // Meanwhile, on another address, real phones register and call.
  await new Promise((r) => setTimeout(r, 500));
  const callee = await new TestUa({ host: '127.0.0.1', port: sipPort }, '9002', PW['9002']!).open();
  const caller = await new TestUa({ host: '127.0.0.1', port: sipPort }, '9001', PW['9001']!).open();
  agents.push(callee, caller);
  assert.equal((await callee.register()).reply.status, 200);
  callee.onRequest = () => ({ status: 486, reason: 'Busy Here' });
  const base = { uri: 'sip:9002@127.0.0.1', to: '<sip:9002@127.0.0.1>', from: '<sip:9001@127.0.0.1>;tag=scan', callId: 'during-scan' };
  const chal = await caller.request('INVITE', base);
  const res = await caller.request('INVITE', { ...base, headers: [`Proxy-Authorization: ${caller.authorize('INVITE', base.uri, chal, 'proxy-authenticate')}`] });
  assert.equal(res.status, 486, 'the call reached the phone and came back');

  const result = await scan;
  assert.ok(result.successful <= 40, `the scanner got ${result.successful} answers before the ban`);
  assert.ok(result.failed >= 500, `${result.failed} sweeps failed after the ban`);
  await new Promise((r) => setTimeout(r, 300));
  const log = readFileSync(join(dir, 'data/security.log'), 'utf8');
  assert.match(log, new RegExp(`event=ban ip=${scannerIp.replace(/\./g, '\\.')} service=sip reason=flood count=17 window=2s duration=300s`));
});
