// Calls out through a trunk, against a carrier played by SIPp: it challenges the INVITE
// and checks the trunk's credentials, answers, and echoes the RTP it gets (-rtp_echo).
// The pbx bridges the call (B2BUA): what the carrier received names only the pbx's
// public address (server.external_ip here is a TEST-NET address), nothing of the
// phone; the phone's tone comes back to it through the relay (both directions); BYE
// from either side ends both legs; an international number from a "national"
// extension gets 403 and a security-log line.
// The same tests run with the media anchored in rtpengine (PBX_TEST_MEDIA_ENGINE=rtpengine,
// set by trunk-calls-rtpengine.test.ts): a real rtpengine, userspace forwarding.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSocket, type Socket } from 'node:dgram';
import { createToken, freePort, freeSipPort, runCli, RunningServer, securityLogWith, tempDir, writeConfig } from '../helpers/server.ts';
import { SCENARIOS, sipp, sippTrace } from '../helpers/sipp.ts';
import { readyCarrierUas, type CarrierHangup } from '../helpers/carrier.ts';
import { TestUa } from '../helpers/sip-client.ts';
import { RtpPeer } from '../helpers/rtp-peer.ts';
import { toneSeconds } from '../helpers/audio.ts';
import { Rtpengine } from '../helpers/rtpengine.ts';

const ENGINE = process.env['PBX_TEST_MEDIA_ENGINE'] === 'rtpengine' ? 'rtpengine' : 'builtin';
let rtpengine: Rtpengine | undefined;

const PUBLIC_IP = '203.0.113.10';
// The carrier has an address of its own (any 127/8 address is the loopback): what comes
// from a trunk's address is the provider's, never a phone's.
const CARRIER_IP = '127.0.0.2';
const dir = tempDir();
let server: RunningServer;
let token: string;
let sipPort: number;
let carrierPort: number;
const refusing: Record<string, number> = {};
let phonePassword: string;
let configFile: string;
const uas: TestUa[] = [];
/** A provider that takes every packet and never answers. */
let silent: Socket;
const silentHeard: string[] = [];

before(async () => {
  sipPort = await freeSipPort();
  carrierPort = await freeSipPort();
  refusing['503'] = await freeSipPort();
  refusing['486'] = await freeSipPort();
  const port = await freePort();
  // rtpengine advertises the public address, as the pbx itself does.
  if (ENGINE === 'rtpengine') rtpengine = await Rtpengine.start({ advertise: PUBLIC_IP, portMin: 22000 + (sipPort % 50) * 200, portMax: 22199 + (sipPort % 50) * 200 });
  const file = (configFile = writeConfig(dir, {
    port,
    sipPort,
    externalIp: PUBLIC_IP,
    extra:
      'dialplan:\n  max_calls_per_extension: 1\n  outbound_routes:\n' +
      '    - name: emergency\n      patterns: ["911", "112"]\n      trunks: [carrier]\n' +
      '    - name: failover\n      patterns: ["7|NXXNXXXXXX"]\n      trunks: [down, carrier]\n' +
      '    - name: busy\n      patterns: ["8|NXXNXXXXXX"]\n      trunks: [busy, carrier]\n' +
      '    - name: tcp\n      patterns: ["5|NXXNXXXXXX"]\n      trunks: [tcpcarrier]\n' +
      '    - name: keys\n      patterns: ["4|NXXNXXXXXX"]\n      trunks: [infocarrier]\n' +
      '    - name: silent\n      patterns: ["6|NXXNXXXXXX"]\n      trunks: [silent]\n' +
      '    - name: out\n      patterns: ["NXXNXXXXXX", "1NXXNXXXXXX", "011."]\n      trunks: [carrier]\n' +
      `media:\n  one_way_seconds: 2\n  engine: ${ENGINE}\n  rtpengine_ng: 127.0.0.1:${rtpengine?.ngPort ?? 2223}\n` +
      // No OPTIONS pings: the carrier scenarios expect INVITEs only.
      'sip:\n  trunk_options_seconds: 0\n  trunk_timeout_seconds: 3\n',
  }));
  token = await createToken(file);
  server = await RunningServer.start(file, port);
  const ext = await server.api('POST', '/api/extensions', token, { number: '2001', name: 'Front Desk', digest_algorithms: ['MD5'] });
  assert.equal(ext.status, 201);
  phonePassword = ext.json.password;
  const trunk = await server.api('POST', '/api/trunks', token, { name: 'carrier', host: CARRIER_IP, port: carrierPort, register: false, username: 'pbxtrunk', password: 's3cret-Trunk' });
  assert.equal(trunk.status, 201, JSON.stringify(trunk.json));
  silent = createSocket('udp4');
  await new Promise<void>((r) => silent.bind(0, CARRIER_IP, r));
  silent.on('message', (m) => silentHeard.push(m.toString('utf8').split('\r\n')[0]!));
  assert.equal((await server.api('POST', '/api/trunks', token, { name: 'silent', host: CARRIER_IP, port: silent.address().port, register: false })).status, 201);
  assert.equal((await server.api('POST', '/api/trunks', token, { name: 'infocarrier', host: CARRIER_IP, port: carrierPort, dtmf_mode: 'info', register: false, username: 'pbxtrunk', password: 's3cret-Trunk' })).status, 201);
  assert.equal((await server.api('POST', '/api/trunks', token, { name: 'tcpcarrier', host: CARRIER_IP, port: carrierPort, transport: 'tcp', register: false, username: 'pbxtrunk', password: 's3cret-Trunk' })).status, 201);
  for (const [name, status] of [['down', '503'], ['busy', '486']] as const) {
    assert.equal((await server.api('POST', '/api/trunks', token, { name, host: CARRIER_IP, port: refusing[status], register: false })).status, 201);
  }
});
after(async () => {
  rtpengine?.stop();
  silent?.close();
  for (const u of uas) u.close();
  for (const e of ears) {
    try {
      e.close();
    } catch {
      /* closed by its test */
    }
  }
  await server?.stop();
});

/**
 * Each carrier run gets a port of its own (the trunks follow it): a run that outlives its
 * test under load (waiting for a BYE that never came) cannot keep the next one from binding.
 */
async function freshCarrierPort(): Promise<number> {
  carrierPort = await freeSipPort();
  for (const name of ['carrier', 'infocarrier', 'tcpcarrier']) {
    const r = await server.api('PUT', `/api/trunks/${name}`, token, { port: carrierPort });
    assert.equal(r.status, 200, r.text);
  }
  return carrierPort;
}

async function carrier(hangup: CarrierHangup, mediaPort: number, echo = true, answerHeaders: string[] = []) {
  const port = await freshCarrierPort();
  return readyCarrierUas({ dir, hangup, port, ip: CARRIER_IP, mediaPort, echo, user: 'pbxtrunk', password: 's3cret-Trunk', answerHeaders });
}

/** A phone's media; every one is closed after the file's tests (one a failed test left open would keep the process alive). */
const ears: RtpPeer[] = [];
async function openEar(): Promise<RtpPeer> {
  const ear = await new RtpPeer().open();
  ears.push(ear);
  return ear;
}

async function phone(): Promise<TestUa> {
  const ua = await new TestUa({ host: '127.0.0.1', port: sipPort }, '2001', phonePassword).open();
  uas.push(ua);
  return ua;
}

test('an extension calls an outside number: the carrier sees the trunk\'s credentials and only the pbx\'s public address; audio flows both ways through the relay; the caller hangs up', async () => {
  const { run } = await carrier('caller', await freePort());
  await new Promise((r) => setTimeout(r, 300));
  const ua = await phone();
  const ear = await openEar();
  const call = await ua.invite('2125551234', ear.sdp());
  assert.equal(call.status, 200, `${call.status} ${call.reply.reason}`);
  // Toward the phone (on the LAN, here the loopback) our SDP names the LAN address; toward
  // the provider the public one (checked on what the carrier got, below). rtpengine names
  // the address its interface advertises.
  assert.match(call.body, new RegExp(`c=IN IP4 ${(rtpengine ? PUBLIC_IP : '127.0.0.1').replace(/\./g, '\\.')}`), 'our SDP toward the phone');
  // The media port is the relay's: rtpengine's own range, or the pbx's media.rtp_port_min–max.
  const mediaPort = Number(/^m=audio (\d+)/m.exec(call.body)![1]);
  if (rtpengine) assert.ok(mediaPort >= rtpengine.portMin && mediaPort <= rtpengine.portMax, `rtpengine's port: ${mediaPort}`);
  else assert.ok(mediaPort >= 10000 && mediaPort <= 20000, `the built-in relay's port: ${mediaPort}`);
  if (rtpengine) assert.equal((await rtpengine.calls()).length, 1, 'the call is in rtpengine');
  // (rtpengine's advertised public address is not routable here: send to it on the loopback.)
  ear.start(call.body, '127.0.0.1');
  ear.tone(1000);
  await new Promise((r) => setTimeout(r, 2000));
  assert.ok(toneSeconds(Int16Array.from(ear.received), 1000) > 1.0, `the phone's tone came back through the relay and the carrier's echo (${ear.received.length} samples)`);
  assert.equal((await ua.bye(call)).status, 200);
  ear.close();
  const result = await run;
  assert.equal(result.code, 0, result.output.slice(-2500));

  // What the carrier received: the authenticated INVITE.
  const log = sippTrace(dir, 'carrier-uas-caller');
  const invites = log.split(/\n(?=INVITE )/).filter((m) => m.startsWith('INVITE '));
  assert.equal(invites.length, 2, 'challenged once, then with credentials');
  const invite = invites[1]!.split(/\n-{5,}/)[0]!;
  assert.match(invite, /^Authorization: Digest .*username="pbxtrunk"/m);
  assert.match(invite, /^INVITE sip:2125551234@127\.0\.0\.2:\d+ SIP\/2\.0/);
  for (const header of ['Via', 'Contact']) {
    const value = new RegExp(`^${header}: (.*)$`, 'm').exec(invite)?.[1] ?? '';
    assert.ok(value.includes(PUBLIC_IP) && !value.includes('127.0.0.1'), `${header} names only the public address: ${value}`);
  }
  assert.match(invite, new RegExp(`^c=IN IP4 ${PUBLIC_IP.replace(/\./g, '\\.')}`, 'm'));
  assert.match(invite, new RegExp(`^o=.* IN IP4 ${PUBLIC_IP.replace(/\./g, '\\.')}`, 'm'));
  assert.ok(!invite.includes(call.callId), 'the phone\'s Call-ID stays inside');
  assert.ok(!invite.includes(call.from.split('tag=')[1]!), 'the phone\'s tag stays inside');
  assert.ok(!invite.includes(`:${ua.port}`), 'the phone\'s port stays inside');
  assert.doesNotMatch(invite, /^Record-Route:/m);
  assert.match(invite, /^From: "Front Desk" <sip:2001@/m, "the caller's number as From user, the extension's name as display name (the phone sent none)");

  await server.waitForLog(/✓ Call from 2001 to 2125551234 answered via trunk carrier/, 1000);
  await server.waitForLog(/Call from 2001 to 2125551234 ended by the caller: relayed [1-9]\d* packets out, [1-9]\d* in/, 3000);
});

test('the carrier hangs up: the phone gets BYE', async () => {
  const { run } = await carrier('carrier', await freePort());
  await new Promise((r) => setTimeout(r, 300));
  const ua = await phone();
  const ear = await openEar();
  const call = await ua.invite('12125550000', ear.sdp());
  assert.equal(call.status, 200);
  ear.start(call.body, '127.0.0.1');
  const bye = await ua.waitRequest((r) => r.method === 'BYE' && r.headers.get('call-id')?.[0] === call.callId, 8000);
  assert.ok(bye, 'the pbx passed the carrier\'s BYE on');
  ear.close();
  const result = await run;
  assert.equal(result.code, 0, result.output.slice(-2500));
  await server.waitForLog(/Call from 2001 to 12125550000 ended by the callee/, 3000);
});

test('an international number from an extension allowed national calls gets 403 and a security-log line', async () => {
  const ua = await phone();
  const ear = await openEar();
  const call = await ua.invite('011442079460000', ear.sdp());
  ear.close();
  assert.equal(call.status, 403);
  const line = /event=call-refused ip=127\.0\.0\.1 user=2001 number=011442079460000 class=international reason=class allowed=national/;
  assert.match(await securityLogWith(dir, line), line);
});

function refusingCarrier(status: '503' | '486') {
  const scenario = join(dir, `carrier-refuse-${status}.xml`);
  writeFileSync(scenario, readFileSync(join(SCENARIOS, 'carrier-refuse.template.xml'), 'utf8').replace('STATUS REASON', status === '503' ? '503 Service Unavailable' : '486 Busy Here'));
  return sipp({ scenario, localPort: refusing[status]!, localIp: CARRIER_IP, dir, timeoutSeconds: 15 });
}

test('failover: the first trunk answers 503 and the call goes out the second', async () => {
  const down = refusingCarrier('503');
  const { run: up } = await carrier('caller', await freePort());
  await new Promise((r) => setTimeout(r, 300));
  const ua = await phone();
  const ear = await openEar();
  const call = await ua.invite('72125557777', ear.sdp());
  assert.equal(call.status, 200, `${call.status} ${call.reply.reason}`);
  assert.equal((await ua.bye(call)).status, 200);
  ear.close();
  assert.equal((await down).code, 0);
  assert.equal((await up).code, 0);
  await server.waitForLog(/Call to 2125557777 via trunk down: 503 Service Unavailable/, 1000);
  await server.waitForLog(/✓ Call from 2001 to 2125557777 answered via trunk carrier/, 1000);
});

test('no failover on 486: the caller hears busy and the next trunk is not tried', async () => {
  const busy = refusingCarrier('486');
  await new Promise((r) => setTimeout(r, 300));
  const ua = await phone();
  const ear = await openEar();
  const started = Date.now();
  const call = await ua.invite('82125558888', ear.sdp());
  ear.close();
  assert.equal(call.status, 486);
  assert.ok(Date.now() - started < 3000, 'at once, not after a timeout on the next trunk');
  assert.equal((await busy).code, 0);
  assert.doesNotMatch(await server.settledLog(), /Call from 2001 to 2125558888: out through trunk carrier/);
});

test('a far end that sends no RTP is flagged as one-way audio, with the likely cause, in the log and the CDR', async () => {
  const { run } = await carrier('caller', await freePort(), false);
  await new Promise((r) => setTimeout(r, 300));
  const ua = await phone();
  const ear = await openEar();
  const call = await ua.invite('2125556666', ear.sdp());
  assert.equal(call.status, 200);
  ear.start(call.body, '127.0.0.1');
  ear.tone(800);
  await server.waitForLog(/One-way audio on the call from 2001 to 2125556666: no RTP from the provider \(carrier\) reaches the pbx/, 6000);
  assert.equal((await ua.bye(call)).status, 200);
  ear.close();
  assert.equal((await run).code, 0);
  let row: { media_one_way: string | null; callee: string } | undefined;
  for (const until = Date.now() + 2000; !row && Date.now() < until; await new Promise((r) => setTimeout(r, 50))) {
    row = (await server.api('GET', '/api/cdr?extension=2001', token)).json.cdr.find((c: { callee: string; result: string }) => c.callee === '2125556666' && c.result === 'answered');
  }
  assert.equal(row?.media_one_way, 'callee', JSON.stringify(row));
  // pbx doctor says it too, with where to look.
  const doctor = await runCli(['doctor', '--json', '--config', configFile]);
  const oneWay = (JSON.parse(doctor.stdout).findings as { check: string; ok: boolean; message: string; fix: string }[]).find((f) => f.check === 'one-way-audio');
  assert.equal(oneWay?.ok, false, JSON.stringify(oneWay));
  assert.match(oneWay!.message, /^1 of the last day's \d+ outside calls had no audio from the far end$/);
  assert.match(oneWay!.fix, /firewall.*server\.external_ip \(203\.0\.113\.10\)/);
});

test('the concurrency limit holds: a second outside call while one is in progress gets 403 and a security-log line; an emergency number still goes out', async () => {
  const { run } = await carrier('caller', await freePort());
  await new Promise((r) => setTimeout(r, 300));
  const ua = await phone();
  const ear = await openEar();
  const first = await ua.invite('2125554444', ear.sdp());
  assert.equal(first.status, 200);
  const second = await ua.invite('2125553333', ear.sdp());
  assert.equal(second.status, 403, 'dialplan.max_calls_per_extension is 1 here');
  // An emergency number is never held back by a limit: at the limit it still goes out
  // (the carrier's SIPp is taken by the first call, so it goes on to every other trunk).
  const heard = silentHeard.length;
  const emergency = await ua.invite('911', ear.sdp());
  assert.notEqual(emergency.status, 403, 'not refused at the limit');
  assert.ok(silentHeard.slice(heard).some((l) => l.startsWith('INVITE sip:911@')), 'the emergency call went out through the trunks');
  await server.waitForLog(/EMERGENCY CALL from 2001 to 911: sent out at once/, 2000);
  assert.equal((await ua.bye(first)).status, 200);
  ear.close();
  assert.equal((await run).code, 0);
  const line = /event=call-refused ip=127\.0\.0\.1 user=2001 number=2125553333 class=local reason=extension-limit limit=1|event=call-refused ip=127\.0\.0\.1 user=2001 number=2125553333 class=national reason=extension-limit limit=1/;
  assert.match(await securityLogWith(dir, line), line);
});

test('an emergency number from an extension with no outside rights still goes out; an ordinary number from it gets 403', async () => {
  const ext = await server.api('POST', '/api/extensions', token, { number: '2002', outbound_class: 'internal', digest_algorithms: ['MD5'] });
  assert.equal(ext.status, 201, JSON.stringify(ext.json));
  assert.equal(ext.json.outbound_class, 'internal');
  const lobby = await new TestUa({ host: '127.0.0.1', port: sipPort }, '2002', ext.json.password).open();
  uas.push(lobby);
  const ear = await openEar();
  const refused = await lobby.invite('2125552222', ear.sdp());
  assert.equal(refused.status, 403);
  const { run } = await carrier('caller', await freePort());
  await new Promise((r) => setTimeout(r, 300));
  const call = await lobby.invite('911', ear.sdp());
  assert.equal(call.status, 200, `${call.status} ${call.reply.reason}`);
  await server.waitForLog(/EMERGENCY CALL from 2002 to 911/, 1000);
  assert.equal((await lobby.bye(call)).status, 200);
  ear.close();
  assert.equal((await run).code, 0);
  const line = /event=call-refused ip=127\.0\.0\.1 user=2002 number=2125552222 class=\w+ reason=class allowed=internal/;
  assert.match(await securityLogWith(dir, line), line);
  const bad = await server.api('PUT', '/api/extensions/2002', token, { outbound_class: 'galactic' });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.field, 'outbound_class');
});

test('a provider that never answers leaves no call and no media port behind: the caller hears 408 after sip.trunk_timeout_seconds', async () => {
  const ua = await phone();
  const ear = await openEar();
  const started = Date.now();
  const call = await ua.invite('62125550100', ear.sdp());
  ear.close();
  const seconds = (Date.now() - started) / 1000;
  assert.equal(call.status, 408);
  assert.ok(seconds < 8, `given up after the trunk timeout (3 s), not Timer B (32 s): ${seconds.toFixed(1)} s`);
  assert.ok(silentHeard.some((l) => l.startsWith('INVITE sip:2125550100@')), `the silent provider got the INVITE: ${silentHeard.join(' | ')}`);
  // The relay closes (and the call record ends) just after the answer to the phone.
  for (const until = Date.now() + 3000; ; ) {
    const calls = (await server.api('GET', '/api/calls', token)).json.calls;
    const metrics = await server.api('GET', '/metrics', token);
    const inUse = Number(/^pbx_media_ports_in_use (\d+)/m.exec(metrics.text)?.[1]);
    const inRtpengine = rtpengine ? (await rtpengine.calls()).length : 0;
    if (calls.length === 0 && inUse === 0 && inRtpengine === 0) break;
    assert.ok(Date.now() < until, `left behind: ${calls.length} call(s), ${inUse} media port(s), ${inRtpengine} rtpengine call(s)`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const cdr = (await server.api('GET', '/api/cdr', token)).json.cdr[0];
  assert.equal(cdr.callee, '2125550100');
  assert.equal(cdr.status, 408);
  assert.equal(cdr.trunk, 'silent');
  assert.equal(cdr.direction, 'outbound');
});

test('hold passes across: the phone\'s re-INVITE (sendonly) reaches the carrier as the pbx\'s own, whose answer (recvonly) comes back; the call goes on and ends', async () => {
  const { run } = await carrier('hold', await freePort());
  await new Promise((r) => setTimeout(r, 300));
  const ua = await phone();
  const ear = await openEar();
  const call = await ua.invite('2125557777', ear.sdp());
  assert.equal(call.status, 200);
  const held = await ua.request('INVITE', { uri: call.contact, from: call.from, to: call.to, callId: call.callId, headers: ['Content-Type: application/sdp'], body: ear.sdp().replace('a=sendrecv', 'a=sendonly') });
  assert.equal(held.status, 200, held.raw);
  const answer = held.raw.split('\r\n\r\n').slice(1).join('\r\n\r\n');
  assert.match(answer, /^a=recvonly/m, "the carrier's answer, passed back");
  assert.match(answer, new RegExp(`^c=IN IP4 ${(rtpengine ? PUBLIC_IP : '127.0.0.1').replace(/\./g, '\\.')}`, 'm'), 'through the relay still');
  ua.sendRaw(`ACK ${call.contact} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${ua.port};branch=z9hG4bKholdack${Date.now()};rport\r\nMax-Forwards: 70\r\nFrom: ${call.from}\r\nTo: ${call.to}\r\nCall-ID: ${call.callId}\r\nCSeq: ${held.headers.get('cseq')![0]!.split(' ')[0]} ACK\r\nContent-Length: 0\r\n\r\n`);
  await server.waitForLog(/new media offer \(sendonly\) passed across, answered recvonly/, 3000);
  assert.equal((await ua.bye(call)).status, 200);
  ear.close();
  const result = await run;
  assert.equal(result.code, 0, result.output.slice(-2500));
});

test(
  "dtmf_mode: info: the phone's key press (RFC 4733 in its RTP) reaches the carrier as SIP INFO, and the carrier's INFO reaches the phone",
  { skip: ENGINE === 'rtpengine' ? 'rtpengine reports key presses only to its --dtmf-log-dest, not over ng: they stay in RTP' : false },
  async () => {
    const { run } = await carrier('keys', await freePort());
    await new Promise((r) => setTimeout(r, 300));
    const ua = await phone();
    const infos: string[] = [];
    ua.onRequest = (req) => {
      if (req.method === 'INFO') infos.push(req.raw);
      return { status: 200, reason: 'OK' };
    };
    const ear = await openEar();
    const call = await ua.invite('42125558888', ear.sdp());
    assert.equal(call.status, 200, `${call.status} ${call.reply.reason}`);
    ear.start(call.body);
    ear.press('5');
    await ear.pressed();
    for (const until = Date.now() + 3000; infos.length === 0; ) {
      assert.ok(Date.now() < until, "the carrier's INFO reached the phone");
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.match(infos[0]!, /^Content-Type: application\/dtmf-relay/im);
    assert.match(infos[0]!, /Signal=9/);
    assert.equal((await ua.bye(call)).status, 200);
    ear.close();
    const result = await run;
    assert.equal(result.code, 0, result.output.slice(-2500));
    const log = sippTrace(dir, 'carrier-uas-keys');
    const info = log.split(/\n(?=INFO )/).find((m) => m.startsWith('INFO '));
    assert.ok(info, 'the carrier got an INFO');
    assert.match(info, /^Content-Type: application\/dtmf-relay/m);
    assert.match(info, /^Signal=5\r?\nDuration=100/m, 'the key and its length (100 ms) as the phone sent it');
  },
);

test('session timers: a carrier that makes the pbx the refresher (RFC 4028) gets an UPDATE before the interval runs out', async () => {
  // Far below the RFC's 90 s minimum, so that the test need not wait: the pbx takes what it is given.
  const { run } = await carrier('refreshed', await freePort(), true, ['Session-Expires: 4;refresher=uac', 'Require: timer']);
  await new Promise((r) => setTimeout(r, 300));
  const ua = await phone();
  const ear = await openEar();
  const call = await ua.invite('2125558888', ear.sdp());
  assert.equal(call.status, 200);
  await server.waitForLog(/The callee asks for session refreshes every 4 s: the pbx refreshes \(UPDATE\) every 2 s/, 2000);
  await new Promise((r) => setTimeout(r, 2600));
  assert.equal((await ua.bye(call)).status, 200);
  ear.close();
  // The carrier's scenario takes the UPDATE before the BYE, or fails.
  const result = await run;
  assert.equal(result.code, 0, result.output.slice(-2500));
});

test('a trunk over TCP: the call goes out on a connection to the carrier, audio flows through the relay, BYE ends it', async () => {
  const { run } = await readyCarrierUas({ dir, hangup: 'caller', port: await freshCarrierPort(), ip: CARRIER_IP, mediaPort: await freePort(), user: 'pbxtrunk', password: 's3cret-Trunk', transport: 'tcp' });
  const ua = await phone();
  const ear = await openEar();
  const call = await ua.invite('52125559999', ear.sdp());
  assert.equal(call.status, 200, `${call.status} ${call.reply.reason}`);
  ear.start(call.body, '127.0.0.1');
  ear.tone(1000);
  await new Promise((r) => setTimeout(r, 1500));
  assert.ok(toneSeconds(Int16Array.from(ear.received), 1000) > 0.5, 'the tone came back through the relay');
  assert.equal((await ua.bye(call)).status, 200);
  ear.close();
  const result = await run;
  assert.equal(result.code, 0, result.output.slice(-2500));
  const trace = sippTrace(dir, 'carrier-uas-caller');
  assert.match(trace, /^INVITE sip:2125559999@127\.0\.0\.2:\d+ SIP\/2\.0\r?\nVia: SIP\/2\.0\/TCP /m, 'the INVITE came over TCP');
});

test('a phone that withholds its number (Privacy: id): From says anonymous, the identity is still asserted to the carrier, marked private', async () => {
  const { run } = await carrier('caller', await freePort());
  await new Promise((r) => setTimeout(r, 300));
  const ua = await phone();
  const ear = await openEar();
  const call = await ua.invite('2125556060', ear.sdp(), ['Privacy: id']);
  assert.equal(call.status, 200);
  assert.equal((await ua.bye(call)).status, 200);
  ear.close();
  assert.equal((await run).code, 0);
  const trace = sippTrace(dir, 'carrier-uas-caller');
  const invite = trace.split(/\n(?=INVITE )/).filter((m) => m.startsWith('INVITE sip:2125556060@')).pop()!;
  assert.match(invite, /^From: "Anonymous" <sip:anonymous@anonymous\.invalid>;tag=/m);
  assert.match(invite, /^Privacy: id/m);
  assert.match(invite, /^P-Asserted-Identity: <sip:2001@/m);
  assert.doesNotMatch(invite.split(/\r?\n/).filter((l) => l.startsWith('From:')).join(), /2001|Front Desk/);
});
