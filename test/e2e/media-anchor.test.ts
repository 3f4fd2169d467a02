// Calls between phones with media.anchor: the proxy still routes the signalling, but each
// phone's SDP is rewritten to name a relay port of the pbx, and the audio goes through the
// relay both ways (each phone's tone reaches the other); BYE frees the relay. `always`
// anchors every call; `nat` (the default) a call with a party behind NAT (its Via,
// Contact and SDP name a LAN address, its packets come from another) and leaves other
// calls alone; `never` leaves every call alone.
import { test, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { createToken, freePort, freeSipPort, RunningServer, tempDir, writeConfig } from '../helpers/server.ts';
import { TestUa } from '../helpers/sip-client.ts';
import { RtpPeer } from '../helpers/rtp-peer.ts';
import { toneSeconds } from '../helpers/audio.ts';

let server: RunningServer;
let token: string;
let sipPort: number;
const uas: TestUa[] = [];
const peers: RtpPeer[] = [];

/** A server with this media.anchor, or the default. */
async function start(anchor: string | null): Promise<void> {
  const dir = tempDir();
  sipPort = await freeSipPort();
  const port = await freePort();
  const file = writeConfig(dir, { port, sipPort, extra: anchor ? `media:\n  anchor: ${anchor}\n` : '' });
  token = await createToken(file);
  server = await RunningServer.start(file, port);
}

/** A phone behind NAT: its Via, Contact and SDP name its LAN address; its packets come from 127.0.0.1. */
const LAN = '192.168.1.50';
const natted = (sdp: string) => sdp.replaceAll('127.0.0.1', LAN);

async function phones(behindNat: 'caller' | 'callee' | null = null): Promise<{ caller: TestUa; callee: TestUa; callerEar: RtpPeer; calleeEar: RtpPeer }> {
  const secrets: string[] = [];
  for (const n of ['4101', '4102']) {
    const r = await server.api('POST', '/api/extensions', token, { number: n, digest_algorithms: ['MD5'] });
    assert.equal(r.status, 201);
    secrets.push(r.json.password);
  }
  const caller = await new TestUa({ host: '127.0.0.1', port: sipPort }, '4101', secrets[0]!).open();
  const callee = await new TestUa({ host: '127.0.0.1', port: sipPort }, '4102', secrets[1]!).open();
  uas.push(caller, callee);
  if (behindNat) (behindNat === 'caller' ? caller : callee).sentBy = `${LAN}:5060`;
  assert.equal((await callee.register()).reply.status, 200);
  const callerEar = await new RtpPeer().open();
  const calleeEar = await new RtpPeer().open();
  peers.push(callerEar, calleeEar);
  return { caller, callee, callerEar, calleeEar };
}

/** The callee answers INVITEs with its ear's SDP; the returned function gives the SDP it was offered. */
function answers(callee: TestUa, ear: RtpPeer, behindNat = false): () => string {
  let offered = '';
  callee.onRequest = (req) => {
    if (req.method !== 'INVITE') return { status: 200, reason: 'OK' };
    offered = req.raw.split('\r\n\r\n').slice(1).join('\r\n\r\n');
    const contact = behindNat ? `${LAN}:5060` : `127.0.0.1:${callee.port}`;
    return { status: 200, reason: 'OK', extra: [`Contact: <sip:4102@${contact}>`], body: behindNat ? natted(ear.sdp()) : ear.sdp() };
  };
  return () => offered;
}

// A test's phones stop with it: a tone still running would reach the next server's relay ports.
afterEach(() => {
  for (const u of uas.splice(0)) u.close();
  for (const p of peers.splice(0)) p.close();
});

after(async () => {
  await server?.stop();
});

test('media.anchor: always: both phones get the relay in SDP, and each one\'s tone reaches the other through it', async () => {
  await start('always');
  const { caller, callee, callerEar, calleeEar } = await phones();
  const offer = answers(callee, calleeEar);
  const call = await caller.invite('4102', callerEar.sdp());
  assert.equal(call.status, 200);
  const port = (sdp: string) => Number(/^m=audio (\d+)/m.exec(sdp)?.[1]);
  assert.notEqual(port(offer()), callerEar.port, 'the callee is offered a relay port, not the caller\'s');
  assert.notEqual(port(call.body), calleeEar.port, 'the caller gets a relay port, not the callee\'s');
  assert.ok(port(offer()) >= 10000 && port(offer()) <= 20000 && port(call.body) >= 10000 && port(call.body) <= 20000, 'both in media.rtp_port_min–max');
  callerEar.start(call.body);
  calleeEar.start(offer());
  callerEar.tone(700);
  calleeEar.tone(1100);
  await new Promise((r) => setTimeout(r, 1500));
  assert.ok(toneSeconds(Int16Array.from(calleeEar.received), 700) > 0.8, "the caller's tone reached the callee through the relay");
  assert.ok(toneSeconds(Int16Array.from(callerEar.received), 1100) > 0.8, "the callee's tone reached the caller through the relay");
  assert.equal((await caller.bye(call)).status, 200);
  for (const until = Date.now() + 3000; ; ) {
    const metrics = await server.api('GET', '/metrics', token);
    if (Number(/^pbx_media_ports_in_use (\d+)/m.exec(metrics.text)?.[1]) === 0) break;
    assert.ok(Date.now() < until, 'the relay was freed after BYE');
    await new Promise((r) => setTimeout(r, 100));
  }
});

test('media.anchor: never (the default): the phones send RTP to each other', async () => {
  await server?.stop();
  await start('never');
  const { caller, callee, callerEar, calleeEar } = await phones();
  const offer = answers(callee, calleeEar);
  const call = await caller.invite('4102', callerEar.sdp());
  assert.equal(call.status, 200);
  assert.equal(Number(/^m=audio (\d+)/m.exec(offer())?.[1]), callerEar.port, "the callee gets the caller's own SDP");
  assert.equal(Number(/^m=audio (\d+)/m.exec(call.body)?.[1]), calleeEar.port);
  assert.equal((await caller.bye(call)).status, 200);
});


for (const behindNat of ['callee', 'caller'] as const) {
  test(`media.anchor: nat (the default): the ${behindNat} behind NAT: the call is anchored, and audio reaches it and comes back`, async () => {
    await server?.stop();
    await start(null);
    const { caller, callee, callerEar, calleeEar } = await phones(behindNat);
    const offer = answers(callee, calleeEar, behindNat === 'callee');
    const call = await caller.invite('4102', behindNat === 'caller' ? natted(callerEar.sdp()) : callerEar.sdp());
    assert.equal(call.status, 200);
    assert.notEqual(Number(/^m=audio (\d+)/m.exec(offer())?.[1]), callerEar.port, 'the callee is offered a relay port');
    assert.notEqual(Number(/^m=audio (\d+)/m.exec(call.body)?.[1]), calleeEar.port, 'the caller gets a relay port');
    assert.doesNotMatch(offer() + call.body, /192\.168\.1\.50/, 'neither phone sees the LAN address behind NAT');
    callerEar.start(call.body);
    calleeEar.start(offer());
    callerEar.tone(700);
    calleeEar.tone(1100);
    await new Promise((r) => setTimeout(r, 1500));
    assert.ok(toneSeconds(Int16Array.from(calleeEar.received), 700) > 0.8, "the caller's tone reached the callee");
    assert.ok(toneSeconds(Int16Array.from(callerEar.received), 1100) > 0.8, "the callee's tone reached the caller");
    assert.equal((await caller.bye(call)).status, 200);
  });
}

test('media.anchor: never: even a phone behind NAT gets the other phone\'s own SDP', async () => {
  await server?.stop();
  await start('never');
  const { caller, callee, callerEar, calleeEar } = await phones('callee');
  const offer = answers(callee, calleeEar, true);
  const call = await caller.invite('4102', callerEar.sdp());
  assert.equal(call.status, 200);
  assert.equal(Number(/^m=audio (\d+)/m.exec(offer())?.[1]), callerEar.port);
  assert.match(call.body, /c=IN IP4 192\.168\.1\.50/);
  assert.equal((await caller.bye(call)).status, 200);
});

test('SIGTERM with an anchored call up: the server ends the call\'s relay and stops', async () => {
  await server?.stop();
  await start('always');
  const { caller, callee, callerEar, calleeEar } = await phones();
  answers(callee, calleeEar);
  assert.equal((await caller.invite('4102', callerEar.sdp())).status, 200);
  const started = Date.now();
  const code = await server.stop();
  assert.equal(code, 0, 'a clean exit');
  assert.ok(Date.now() - started < 5000, `stopped in ${Date.now() - started} ms`);
});
