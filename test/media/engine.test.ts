// The media engines (on this thread, and on a worker thread) against a test phone's raw
// RTP on 127.0.0.1: a played tone is heard by the phone, the phone's tone is recorded
// into a WAV that holds it (measured here, not with the pbx's code), '#' ends the
// recording and is still reported, figures come back, and a media thread that dies
// ends its legs and is replaced by the next call.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MediaEngine, MediaLeg } from '../../src/media/engine.ts';
import { LocalMediaEngine } from '../../src/media/local-engine.ts';
import { ThreadedMediaEngine } from '../../src/media/threaded-engine.ts';
import { RtpPeer } from '../helpers/rtp-peer.ts';
import { readWavSamples, toneSeconds } from '../helpers/audio.ts';

const dir = mkdtempSync(join(tmpdir(), 'pbx-engine-'));
const base = 45000 + (process.pid % 200) * 20;
after(() => rmSync(dir, { recursive: true, force: true }));

function tone(hz: number, seconds: number): Int16Array {
  return Int16Array.from({ length: seconds * 8000 }, (_, i) => Math.round(8000 * Math.sin((2 * Math.PI * hz * i) / 8000)));
}

async function call(engine: MediaEngine): Promise<{ leg: MediaLeg; phone: RtpPeer }> {
  const leg = await engine.open();
  const phone = await new RtpPeer().open();
  leg.start({
    codec: 'PCMU',
    payloadType: 0,
    telephoneEvent: 101,
    remote: { address: '127.0.0.1', port: phone.port, rtcpPort: phone.port + 1 },
    allowedSources: ['127.0.0.1'],
    direction: 'sendrecv',
    rtcpMux: false,
  });
  phone.start(`c=IN IP4 127.0.0.1\r\nm=audio ${leg.port} RTP/AVP 0\r\n`);
  return { leg, phone };
}

const engines: [string, (offset: number) => MediaEngine][] = [
  ['on this thread', (o) => new LocalMediaEngine(() => ({ address: '127.0.0.1', min: base + o, max: base + o + 9 }))],
  ['on a worker thread', (o) => new ThreadedMediaEngine(() => ({ address: '127.0.0.1', min: base + o, max: base + o + 9 }))],
  ['on two worker threads', (o) => new ThreadedMediaEngine(() => ({ address: '127.0.0.1', min: base + o, max: base + o + 9 }), 2)],
];

for (const [name, make] of engines) {
  describe(`the media engine ${name}`, () => {
    const engine = make(name.includes('two') ? 30 : name.includes('worker') ? 10 : 0);
    after(() => engine.close());

    test('plays a tone the phone hears, records the phone into a complete WAV, and # ends the recording', async () => {
      const { leg, phone } = await call(engine);
      assert.equal(leg.port % 2, 0, 'RTP on an even port');
      await leg.play(tone(700, 1));
      assert.ok(toneSeconds(Int16Array.from(phone.received), 700) >= 0.8, 'the phone heard the 700 Hz tone for about a second');

      const keys: string[] = [];
      leg.onDigit = (d) => keys.push(d);
      phone.tone(1000);
      const path = join(dir, `${name.replace(/ /g, '-')}.wav`);
      const recording = leg.record(path, { maxSeconds: 30, silenceSeconds: 5, stopDigits: '#' });
      await new Promise((r) => setTimeout(r, 1500));
      phone.press('#');
      const result = await recording;
      assert.equal(result.endedBy, 'key');
      assert.deepEqual(keys, ['#'], 'the key that ended it is still reported, once');
      const wav = readWavSamples(path);
      assert.equal(wav.samples.length, result.samples, 'the header holds what was written');
      const seconds = toneSeconds(wav.samples, 1000);
      assert.ok(seconds > 1.2 && seconds < 2.2, `the recording holds the phone's 1 kHz tone for about 1.5 s (${seconds})`);

      await new Promise((r) => setTimeout(r, 1100)); // a worker reports figures each second
      assert.ok(leg.stats.packetsReceived > 50, `figures so far (${leg.stats.packetsReceived} received)`);
      const final = await leg.close();
      phone.close();
      assert.ok(final.packetsSent >= 50 && final.packetsReceived >= final.packetsSent - 100, JSON.stringify(final));
      assert.equal(engine.status().portsInUse, 0, 'the ports are free again');
    });

    test('a recording ends by itself on silence and at its length limit; a hang-up finishes the file', async () => {
      const { leg, phone } = await call(engine);
      const silent = await leg.record(join(dir, 'silence.wav'), { maxSeconds: 30, silenceSeconds: 1, stopDigits: '#' });
      assert.equal(silent.endedBy, 'silence');
      phone.tone(1000);
      const limited = await leg.record(join(dir, 'limit.wav'), { maxSeconds: 1, silenceSeconds: 0, stopDigits: '' });
      assert.equal(limited.endedBy, 'length limit');
      assert.equal(limited.samples, 8000);
      const cut = leg.record(join(dir, 'cut.wav'), { maxSeconds: 30, silenceSeconds: 0, stopDigits: '' });
      await new Promise((r) => setTimeout(r, 600));
      await leg.close();
      const r = await cut;
      phone.close();
      assert.equal(r.endedBy, 'hang-up');
      assert.equal(readWavSamples(join(dir, 'cut.wav')).samples.length, r.samples);
      assert.ok(r.samples > 2400, 'what came before the hang-up is in the file');
    });
  });
}

test('two media threads share the calls and the port range: each takes every other pair, and both carry audio', async () => {
  const engine = new ThreadedMediaEngine(() => ({ address: '127.0.0.1', min: base + 40, max: base + 49 }), 2);
  const calls = [await call(engine), await call(engine), await call(engine), await call(engine)];
  assert.deepEqual(
    calls.map((c) => c.leg.port).sort((a, b) => a - b),
    [base + 40, base + 42, base + 44, base + 46],
    'pairs from both halves of the range, none twice',
  );
  await Promise.all(calls.map((c) => c.leg.play(tone(700, 0.5))));
  for (const c of calls) assert.ok(toneSeconds(Int16Array.from(c.phone.received), 700) >= 0.3, `audio on port ${c.leg.port}`);
  assert.equal(engine.status().portsInUse, 4);
  for (const c of calls) {
    await c.leg.close();
    c.phone.close();
  }
  await engine.close();
});

test('a media thread that dies ends its legs, and the next call gets a new thread', async () => {
  const engine = new ThreadedMediaEngine(() => ({ address: '127.0.0.1', min: base + 20, max: base + 29 }));
  const errors: Error[] = [];
  engine.onError = (e) => errors.push(e);
  const { leg, phone } = await call(engine);
  const failed = new Promise<string>((r) => (leg.onFailure = r));
  const playing = leg.play(tone(500, 10));
  // What a crash inside the thread does: it goes away.
  await (engine as unknown as { threads: { worker: { terminate(): Promise<number> } }[] }).threads[0]!.worker.terminate();
  assert.match(await failed, /media thread exited/);
  await playing; // nothing waits for ever
  assert.equal(errors.length, 1);
  phone.close();
  const next = await call(engine);
  await next.leg.play(tone(700, 0.5));
  assert.ok(toneSeconds(Int16Array.from(next.phone.received), 700) >= 0.3, 'the next call has media');
  await next.leg.close();
  next.phone.close();
  await engine.close();
});
