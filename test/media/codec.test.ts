// RTP headers, G.711, RFC 4733 events, WAV files and RTCP reports, checked against the
// RFCs' layouts and known values rather than against this code's own inverse alone.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseRtp, writeRtpHeader, isRtcp } from '../../src/media/rtp.ts';
import { PCMA, PCMU } from '../../src/media/g711.ts';
import { DtmfReceiver, dtmfPackets, parseTelephoneEvent } from '../../src/media/dtmf.ts';
import { decodeWav, encodeWav, WavFormatError, WavWriter } from '../../src/media/wav.ts';
import { ReceptionStats, SilenceDetector } from '../../src/media/stats.ts';
import { compoundReport, ReportState, senderReportNtp } from '../../src/media/rtcp.ts';

describe('RTP header (RFC 3550 §5.1)', () => {
  test('written fields read back, at the documented bit positions', () => {
    const b = Buffer.alloc(12 + 4);
    writeRtpHeader(b, 8, true, 0xfffe, 0x89abcdef, 0x01020304);
    assert.equal(b[0], 0x80, 'V=2, no padding, extension or CSRC');
    assert.equal(b[1], 0x88, 'marker bit and PT 8');
    assert.deepEqual([...b.subarray(2, 12)], [0xff, 0xfe, 0x89, 0xab, 0xcd, 0xef, 1, 2, 3, 4]);
    const p = parseRtp(b)!;
    assert.deepEqual({ ...p, payload: p.payload.length }, { payloadType: 8, marker: true, sequence: 0xfffe, timestamp: 0x89abcdef, ssrc: 0x01020304, payload: 4 });
  });

  test('CSRC list, header extension and padding are skipped; non-RTP is refused', () => {
    // V=2, P=1, X=1, CC=1; then CSRC, extension header (length 1 word) + 1 word, payload "ab", 2 padding bytes (last = 2).
    const b = Buffer.from([0xb1, 0x00, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 9, 9, 9, 9, 0xbe, 0xde, 0, 1, 7, 7, 7, 7, 0x61, 0x62, 0, 2]);
    assert.equal(parseRtp(b)!.payload.toString('latin1'), 'ab');
    assert.equal(parseRtp(Buffer.from([0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])), null, 'version 1');
    assert.equal(parseRtp(Buffer.alloc(5)), null, 'too short');
    const rtcp = Buffer.from([0x80, 201, 0, 1, 0, 0, 0, 1]);
    assert.equal(isRtcp(rtcp), true);
    assert.equal(parseRtp(Buffer.concat([rtcp, Buffer.alloc(8)])), null, 'RTCP on a muxed port is not RTP');
  });
});

describe('G.711', () => {
  test('μ-law and A-law match the ITU-T G.711 values for known samples', () => {
    const pcm = Int16Array.from([0, 1000, -1000, 32767, -32768]);
    const mu = new Uint8Array(5);
    PCMU.encode(pcm, mu);
    // μ-law: 0 → 0xFF, 1000 → 0xCE, -1000 → 0x4E, max → 0x80, min → 0x00.
    assert.deepEqual([...mu], [0xff, 0xce, 0x4e, 0x80, 0x00]);
    const a = new Uint8Array(5);
    PCMA.encode(pcm, a);
    // A-law (even bits inverted): 0 → 0xD5, 1000 → 0xFA, -1000 → 0x7A, max → 0xAA, min → 0x2A.
    assert.deepEqual([...a], [0xd5, 0xfa, 0x7a, 0xaa, 0x2a]);
    const back = new Int16Array(5);
    PCMU.decode(mu, back);
    assert.ok(Math.abs(back[1]! - 1000) < 40 && Math.abs(back[2]! + 1000) < 40, `decoded ${[...back]}`);
  });
});

describe('DTMF (RFC 4733)', () => {
  test('a key press is sent as growing durations, then the end packet three times, all on the start timestamp', () => {
    const packets = dtmfPackets('#', 1000, 100);
    assert.equal(packets[0]!.marker, true);
    assert.ok(packets.every((p) => p.timestamp === 1000));
    const events = packets.map((p) => parseTelephoneEvent(p.payload)!);
    assert.ok(events.every((e) => e.event === 11));
    assert.deepEqual(events.filter((e) => !e.end).map((e) => e.duration), [160, 320, 480, 640]);
    assert.deepEqual(events.filter((e) => e.end).map((e) => e.duration), [800, 800, 800]);
  });

  test('each press is reported once: redundant end packets, repeated digits and long-press segments', () => {
    const got: string[] = [];
    const r = new DtmfReceiver((d) => got.push(d));
    for (const [ts, digit] of [[1000, '1'], [3000, '1'], [5000, '*']] as const) for (const p of dtmfPackets(digit, ts)) r.receive(p.timestamp, p.payload);
    assert.deepEqual(got, ['1', '1', '*'], 'the same digit twice is two presses');
    // §2.5.1.3: a press longer than 0xFFFF samples goes on as a new segment where the last one ended.
    const seg1 = Buffer.from([5, 0x0a, 0xff, 0xff]);
    r.receive(10_000, seg1);
    r.receive(10_000 + 0xffff, Buffer.from([5, 0x8a, 0x01, 0x00]));
    assert.deepEqual(got, ['1', '1', '*', '5']);
  });
});

describe('WAV', () => {
  test('16-bit 8 kHz mono round-trips; other formats are refused with what is needed', () => {
    const s = Int16Array.from({ length: 800 }, (_, i) => Math.round(8000 * Math.sin(i / 5)));
    const wav = encodeWav(s);
    assert.equal(wav.toString('latin1', 0, 4), 'RIFF');
    assert.equal(wav.readUInt32LE(24), 8000);
    assert.deepEqual([...decodeWav(wav)], [...s]);
    const stereo = Buffer.from(wav);
    stereo.writeUInt16LE(2, 22);
    assert.throws(() => decodeWav(stereo, 'greeting.wav'), (e: Error) => e instanceof WavFormatError && /greeting\.wav is 2-channel 16-bit 8000 Hz.*needed: mono 16-bit PCM at 8000 Hz/.test(e.message));
    assert.throws(() => decodeWav(Buffer.from('hello world, no wav')), /not a WAV file/);
  });

  test('a recording says 0 samples until it is finished, then its true length', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'pbx-wav-')), 'rec.wav');
    const w = new WavWriter(path);
    w.write(new Int16Array(160).fill(100));
    w.write(new Int16Array(160).fill(-100));
    assert.equal(readFileSync(path).readUInt32LE(40), 0, 'unfinished: the header claims no samples');
    assert.equal(w.finish(), 320);
    const samples = decodeWav(readFileSync(path));
    assert.equal(samples.length, 320);
    assert.equal(samples[0], 100);
    assert.equal(samples[319], -100);
  });
});

describe('reception statistics (RFC 3550 A.1, A.8)', () => {
  test('loss across a sequence wrap, and jitter from uneven arrival', () => {
    const s = new ReceptionStats();
    let ts = 0;
    for (const seq of [65533, 65534, 65535, 0, 2, 3]) s.packet(seq, (ts += 160), ts / 8);
    assert.equal(s.expected, 7);
    assert.equal(s.lost, 1, 'sequence 1 never came');
    assert.equal(s.jitterMs, 0, 'perfectly paced');
    const j = new ReceptionStats();
    for (let i = 0; i < 50; i++) j.packet(i, i * 160, i * 20 + (i % 2 ? 5 : 0));
    assert.ok(j.jitterMs > 3 && j.jitterMs < 6, `jitter ${j.jitterMs} ms for ±5 ms arrival`);
  });

  test('silence is detected after the configured time of quiet frames only', () => {
    const d = new SilenceDetector(0.1);
    const loud = Int16Array.from({ length: 160 }, (_, i) => (i % 2 ? 3000 : -3000));
    const quiet = new Int16Array(160).fill(3);
    for (let i = 0; i < 4; i++) assert.equal(d.frame(quiet), false);
    assert.equal(d.frame(quiet), true, '5 × 20 ms = 100 ms');
    assert.equal(d.frame(loud), false);
  });
});

describe('RTCP (RFC 3550 §6.4)', () => {
  test('a sender report with one report block and an SDES CNAME, and the SR time read back', () => {
    const p = compoundReport(
      { ssrc: 0x11111111, rtpTimestamp: 12345, packets: 250, octets: 40000 },
      true,
      { ssrc: 0x22222222, expected: 100, received: 90, extendedMax: 65636, jitterUnits: 24, lastSr: 0, lastSrAt: 0 },
      new ReportState(),
      'pbx@example',
    );
    assert.equal(p[0], 0x81, 'V=2, one report block');
    assert.equal(p[1], 200, 'SR');
    const srLen = (p.readUInt16BE(2) + 1) * 4;
    assert.equal(srLen, 52);
    assert.equal(p.readUInt32BE(20), 250);
    assert.equal(p.readUInt32BE(28), 0x22222222);
    assert.equal(p[32], Math.floor((10 << 8) / 100), 'fraction lost: 10 of 100');
    assert.equal(p.readUIntBE(33, 3), 10, 'cumulative lost');
    assert.equal(p.readUInt32BE(36), 65636);
    assert.equal(p[srLen + 1], 202, 'SDES follows');
    assert.equal(p.toString('utf8', srLen + 10, srLen + 10 + 11), 'pbx@example');
    assert.equal(p.length % 4, 0);
    const ntp = senderReportNtp(p)!;
    assert.equal(ntp, ((p.readUInt32BE(8) & 0xffff) << 16 | p.readUInt32BE(12) >>> 16) >>> 0);
  });
});
