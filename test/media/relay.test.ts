// The RTP relay (media anchoring) on both engines, with two test phones' raw RTP on
// 127.0.0.1: each one's tone reaches the other through the relay (measured here), each
// side latches to where its party really sends from (a phone behind NAT whose SDP names
// an address it cannot be reached at), a third party's packets are dropped and counted,
// and the figures per direction tell who sent what.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import type { MediaEngine } from '../../src/media/engine.ts';
import { LocalMediaEngine } from '../../src/media/local-engine.ts';
import { ThreadedMediaEngine } from '../../src/media/threaded-engine.ts';
import { RtpPeer } from '../helpers/rtp-peer.ts';
import { toneSeconds } from '../helpers/audio.ts';

const base = 47000 + (process.pid % 200) * 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const engines: [string, () => MediaEngine][] = [
  ['on this thread', () => new LocalMediaEngine(() => ({ address: '127.0.0.1', min: base, max: base + 9 }))],
  ['on a worker thread', () => new ThreadedMediaEngine(() => ({ address: '127.0.0.1', min: base + 10, max: base + 19 }))],
];

for (const [name, make] of engines) {
  describe(`the relay ${name}`, () => {
    const engine = make();
    after(() => engine.close());

    test('passes each party\'s audio to the other, latching to where they send from, and drops a third party', async () => {
      const relay = await engine.openRelay();
      const phone = await new RtpPeer().open();
      const far = await new RtpPeer().open();
      // The phone's SDP names a port nobody listens on (a NAT's inside view); its packets come from its real port.
      relay.update('a', { address: '127.0.0.1', port: 9, rtcpPort: 10 }, ['127.0.0.1']);
      relay.update('b', { address: '127.0.0.1', port: far.port, rtcpPort: far.port + 1 }, ['127.0.0.1']);
      phone.tone(600);
      far.tone(1300);
      phone.start(`c=IN IP4 127.0.0.1\r\nm=audio ${relay.ports.a} RTP/AVP 0\r\n`);
      far.start(`c=IN IP4 127.0.0.1\r\nm=audio ${relay.ports.b} RTP/AVP 0\r\n`);
      const intruder = createSocket('udp4');
      await new Promise<void>((ok) => intruder.bind(0, '127.0.0.1', () => ok()));
      await sleep(300);
      // From the same address as the phone but another port: not the latched source.
      for (let i = 0; i < 20; i++) intruder.send(Buffer.from([0x80, 0, 0, i, 0, 0, 0, 0, 0, 0, 0, 1, ...Array(160).fill(0x7f)]), relay.ports.a, '127.0.0.1');
      await sleep(1500);
      phone.close();
      far.close();
      intruder.close();
      assert.ok(toneSeconds(Int16Array.from(far.received), 600) > 1.2, 'the far end heard the phone');
      assert.ok(toneSeconds(Int16Array.from(phone.received), 1300) > 1.0, 'the phone heard the far end at the port it sends from');
      const stats = await relay.close();
      assert.ok(stats.a.received > 70 && stats.a.forwarded === stats.a.received, JSON.stringify(stats));
      assert.ok(stats.b.received > 70 && stats.b.forwarded === stats.b.received, JSON.stringify(stats));
      assert.equal(stats.a.ignored, 20, 'the intruder\'s packets were dropped');
      assert.ok(Date.now() - stats.a.lastReceivedAt < 2000);
      assert.equal(engine.status().portsInUse, 0);
    });

    test('a side that never sends shows as silent in the figures while the other flows (one-way audio)', async () => {
      const relay = await engine.openRelay();
      const phone = await new RtpPeer().open();
      const mute = await new RtpPeer().open();
      relay.update('a', { address: '127.0.0.1', port: phone.port, rtcpPort: phone.port + 1 }, ['127.0.0.1']);
      relay.update('b', { address: '127.0.0.1', port: mute.port, rtcpPort: mute.port + 1 }, ['127.0.0.1']);
      phone.start(`c=IN IP4 127.0.0.1\r\nm=audio ${relay.ports.a} RTP/AVP 0\r\n`);
      await sleep(1200);
      phone.close();
      mute.close();
      const stats = await relay.close();
      assert.ok(stats.a.received > 40);
      assert.equal(stats.b.received, 0);
      assert.equal(stats.b.lastReceivedAt, 0);
      assert.ok(mute.received.length > 40 * 160, 'what the phone sent reached the silent side');
    });
  });
}
