// Audio measured by the tests themselves, not with the pbx's code: WAV files written and
// read here, G.711 µ-law decoded from the ITU table's rule, and the Goertzel filter to
// tell how strong one frequency is in a stretch of samples.
import { readFileSync, writeFileSync } from 'node:fs';

/** A 16-bit mono WAV of a sine tone (what a phone's microphone plays in). */
export function writeToneWav(path: string, hz: number, seconds: number, rate = 8000, amplitude = 8000): void {
  const n = Math.round(rate * seconds);
  const out = Buffer.alloc(44 + n * 2);
  out.write('RIFF', 0, 'latin1');
  out.writeUInt32LE(36 + n * 2, 4);
  out.write('WAVEfmt ', 8, 'latin1');
  out.writeUInt32LE(16, 16);
  out.writeUInt16LE(1, 20);
  out.writeUInt16LE(1, 22);
  out.writeUInt32LE(rate, 24);
  out.writeUInt32LE(rate * 2, 28);
  out.writeUInt16LE(2, 32);
  out.writeUInt16LE(16, 34);
  out.write('data', 36, 'latin1');
  out.writeUInt32LE(n * 2, 40);
  for (let i = 0; i < n; i++) out.writeInt16LE(Math.round(Math.sin((2 * Math.PI * hz * i) / rate) * amplitude), 44 + i * 2);
  writeFileSync(path, out);
}

/** The samples of a 16-bit PCM WAV (first `data` chunk), with its rate. */
export function readWavSamples(path: string): { rate: number; samples: Int16Array } {
  const b = readFileSync(path);
  if (b.toString('latin1', 0, 4) !== 'RIFF' || b.toString('latin1', 8, 12) !== 'WAVE') throw new Error(`${path} is not a WAV file`);
  let at = 12;
  let rate = 0;
  while (at + 8 <= b.length) {
    const id = b.toString('latin1', at, at + 4);
    const size = b.readUInt32LE(at + 4);
    if (id === 'fmt ') rate = b.readUInt32LE(at + 12);
    if (id === 'data') {
      const n = Math.min(size, b.length - at - 8) >> 1;
      const samples = new Int16Array(n);
      for (let i = 0; i < n; i++) samples[i] = b.readInt16LE(at + 8 + i * 2);
      return { rate, samples };
    }
    at += 8 + size + (size & 1);
  }
  throw new Error(`${path} has no data chunk`);
}

/** G.711 µ-law byte to a linear sample (ITU-T G.711 decoding rule). */
export function ulawToLinear(byte: number): number {
  const u = ~byte & 0xff;
  const t = (((u & 0x0f) << 3) + 0x84) << ((u & 0x70) >> 4);
  return u & 0x80 ? 0x84 - t : t - 0x84;
}

/** Relative power of `hz` in `samples` (Goertzel), normalised by the signal's total power: 0..~1. */
export function toneStrength(samples: ArrayLike<number>, hz: number, rate = 8000): number {
  const k = (2 * Math.cos((2 * Math.PI * hz) / rate));
  let s1 = 0;
  let s2 = 0;
  let energy = 0;
  for (let i = 0; i < samples.length; i++) {
    const x = samples[i]!;
    const s = x + k * s1 - s2;
    s2 = s1;
    s1 = s;
    energy += x * x;
  }
  const power = s1 * s1 + s2 * s2 - k * s1 * s2;
  return energy > 0 ? (2 * power) / (samples.length * energy) : 0;
}

/** Seconds of `samples` in which `hz` dominates, counted in 100 ms blocks. */
export function toneSeconds(samples: Int16Array, hz: number, rate = 8000, threshold = 0.5): number {
  const block = rate / 10;
  let n = 0;
  for (let at = 0; at + block <= samples.length; at += block) if (toneStrength(samples.subarray(at, at + block), hz, rate) > threshold) n++;
  return n / 10;
}

/** A linear sample to G.711 µ-law (ITU-T G.711 encoding rule, bias 0x84, clip 32635). */
export function linearToUlaw(sample: number): number {
  const sign = sample < 0 ? 0x80 : 0;
  let x = Math.min(Math.abs(sample), 32635) + 0x84;
  let exponent = 7;
  for (let mask = 0x4000; (x & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
  const mantissa = (x >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}
