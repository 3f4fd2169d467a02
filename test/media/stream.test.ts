// Two RTP streams over real UDP sockets on 127.0.0.1: a 1 kHz tone sent by one is
// found in what the other received (a Goertzel filter written here, not the pbx's
// code), DTMF arrives once per press, a third party's packets are ignored, packets
// are paced 20 ms apart, and the port pool hands out even pairs and says when it is out.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { MediaClock } from '../../src/media/clock.ts';
import { PCMU } from '../../src/media/g711.ts';
import { PortPool, MediaPortsExhausted, type MediaPorts } from '../../src/media/ports.ts';
import { RtpStream, SamplesSource } from '../../src/media/stream.ts';
import { parseRtp, writeRtpHeader } from '../../src/media/rtp.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const clock = new MediaClock();
const base = 41000 + (process.pid % 200) * 20;
const pool = new PortPool(() => ({ address: '127.0.0.1', min: base, max: base + 19 }));
const opened: MediaPorts[] = [];
after(() => {
  clock.stop();
  for (const p of opened) pool.release(p);
});

/** Relative power of `freq` in `samples` (Goertzel), against the total power. */
function toneShare(samples: Int16Array, freq: number, rate = 8000): number {
  const k = (2 * Math.cos((2 * Math.PI * freq) / rate));
  let s1 = 0;
  let s2 = 0;
  let total = 0;
  for (const x of samples) {
    const s0 = x + k * s1 - s2;
    s2 = s1;
    s1 = s0;
    total += x * x;
  }
  const power = s1 * s1 + s2 * s2 - k * s1 * s2;
  return total ? (2 * power) / (samples.length * total) : 0;
}

function tone(freq: number, seconds: number, amplitude = 8000): Int16Array {
  return Int16Array.from({ length: seconds * 8000 }, (_, i) => Math.round(amplitude * Math.sin((2 * Math.PI * freq * i) / 8000)));
}

async function pair(telephoneEvent: number | null = 101) {
  const a = await pool.open();
  const b = await pool.open();
  opened.push(a, b);
  const common = { codec: PCMU, payloadType: 0, telephoneEvent, allowedSources: ['127.0.0.1'], clock };
  const sa = new RtpStream({ ...common, rtp: a.rtp, rtcp: a.rtcp, remote: { address: '127.0.0.1', port: b.port, rtcpPort: b.port + 1 } });
  const sb = new RtpStream({ ...common, rtp: b.rtp, rtcp: b.rtcp, remote: { address: '127.0.0.1', port: a.port, rtcpPort: a.port + 1 } });
  return { a, b, sa, sb };
}

describe('RTP streams over real sockets', () => {
  test('a 1 kHz tone played by one stream is heard by the other, with no loss, paced at 20 ms', async () => {
    const { b, sa, sb } = await pair();
    const heard: number[] = [];
    sb.onAudio = (f) => heard.push(...f);
    const arrivals: number[] = [];
    b.rtp.on('message', () => arrivals.push(performance.now()));
    await sa.play(new SamplesSource(tone(1000, 1)));
    await sleep(100);
    const samples = Int16Array.from(heard);
    assert.ok(samples.length >= 8000, `heard ${samples.length} samples`);
    const share1k = toneShare(samples, 1000);
    assert.ok(share1k > 0.8, `1 kHz holds ${share1k.toFixed(2)} of the power`);
    assert.ok(toneShare(samples, 1400) < 0.01, 'and not a neighbouring frequency');
    assert.equal(sb.stats.packetsLost, 0);
    assert.ok(sa.stats.packetsSent >= 50);
    const gaps = arrivals.slice(1).map((t, i) => t - arrivals[i]!).sort((x, y) => x - y);
    const median = gaps[Math.floor(gaps.length / 2)]!;
    assert.ok(median > 17 && median < 23, `median spacing ${median.toFixed(1)} ms`);
    sa.close();
    sb.close();
  });

  test('DTMF arrives once per key press', async () => {
    const { sa, sb } = await pair();
    const digits: string[] = [];
    sb.onDigit = (d) => digits.push(d);
    sa.sendDigit('4');
    await sleep(200);
    sa.sendDigit('4');
    sa.sendDigit('#');
    await sleep(400);
    assert.deepEqual(digits, ['4', '4', '#']);
    sa.close();
    sb.close();
  });

  test('symmetric RTP: the stream answers where the peer sends from; a third party is ignored', async () => {
    const p = await pool.open();
    opened.push(p);
    // The phone "behind NAT" sends from a socket other than the one its SDP named.
    const phone = createSocket('udp4');
    await new Promise<void>((ok) => phone.bind(0, '127.0.0.1', () => ok()));
    const intruder = createSocket('udp4');
    await new Promise<void>((ok) => intruder.bind(0, '127.0.0.1', () => ok()));
    const s = new RtpStream({ codec: PCMU, payloadType: 0, telephoneEvent: null, allowedSources: ['127.0.0.1'], clock, rtp: p.rtp, rtcp: p.rtcp, remote: { address: '127.0.0.1', port: 9, rtcpPort: 10 } });
    const heard: number[] = [];
    s.onAudio = (f) => heard.push(f[0]!);
    const toPhone: Buffer[] = [];
    phone.on('message', (m) => toPhone.push(m));
    const packet = (seq: number, value: number) => {
      const b = Buffer.alloc(172);
      writeRtpHeader(b, 0, false, seq, seq * 160, 0xabc);
      b.fill(value, 12);
      return b;
    };
    phone.send(packet(1, 0xce), p.port, '127.0.0.1');
    await sleep(80);
    intruder.send(packet(2, 0x4e), p.port, '127.0.0.1');
    phone.send(packet(3, 0xce), p.port, '127.0.0.1');
    await sleep(80);
    assert.equal(s.target.port, phone.address().port, 'latched onto the phone’s real source');
    assert.ok(toPhone.some((m) => parseRtp(m)?.payloadType === 0), 'and sends there');
    assert.equal(s.stats.packetsIgnored, 1, "the intruder's packet was dropped");
    assert.ok(heard.every((v) => v > 0), 'only the phone’s audio was heard');
    assert.equal(s.stats.packetsReceived, 2);
    s.close();
    phone.close();
    intruder.close();
  });

  test('the clock keeps 50 ticks a second over a second', async () => {
    const c = new MediaClock();
    let n = 0;
    const t0 = performance.now();
    c.add({ tick: () => n++ });
    await sleep(1000);
    const elapsed = performance.now() - t0;
    c.stop();
    assert.ok(Math.abs(n - elapsed / 20) <= 2, `${n} ticks in ${elapsed.toFixed(0)} ms`);
  });

  test('the clock serves its streams in slots across the period: each ticks 50 times a second, never two slots at once', async () => {
    const c = new MediaClock(20, 20);
    const counts = new Array<number>(40).fill(0);
    const at: number[][] = Array.from({ length: 40 }, () => []);
    for (let k = 0; k < 40; k++) c.add({ tick: () => (counts[k]!++, at[k]!.push(performance.now())) });
    await sleep(1000);
    c.stop();
    for (const n of counts) assert.ok(n >= 47 && n <= 51, `ticks per stream: ${counts.join(',')}`);
    // Streams are spread: in each period, the first ticks of the 40 streams are not all in one millisecond.
    const firsts = at.map((t) => t[10]!).sort((x, y) => x - y);
    assert.ok(firsts[39]! - firsts[0]! >= 15, `the streams' ticks span the period (${(firsts[39]! - firsts[0]!).toFixed(1)} ms)`);
  });

  test('the port pool hands out even RTP ports with RTCP above, skips taken ones, and says when it is out', async () => {
    const small = new PortPool(() => ({ address: '127.0.0.1', min: base + 100, max: base + 105 }));
    // Someone else holds the middle pair's RTCP port.
    const squatter = createSocket('udp4');
    await new Promise<void>((ok) => squatter.bind(base + 103, '127.0.0.1', () => ok()));
    const got: MediaPorts[] = [];
    got.push(await small.open());
    got.push(await small.open());
    assert.deepEqual(got.map((g) => g.port), [base + 100, base + 104]);
    assert.ok(got.every((g) => g.port % 2 === 0));
    await assert.rejects(small.open(), MediaPortsExhausted);
    small.release(got[0]!);
    const again = await small.open();
    assert.equal(again.port, base + 100, 'a released pair is handed out again');
    small.release(again);
    small.release(got[1]!);
    assert.equal(small.used, 0);
    squatter.close();
  });
});
