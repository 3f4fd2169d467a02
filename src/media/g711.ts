// G.711 μ-law (PCMU, payload type 0) and A-law (PCMA, 8) from the alawmulaw package,
// turned into lookup tables once: a 20 ms frame is 160 table reads each way, into
// buffers the caller owns.
import alawmulaw from 'alawmulaw';

export interface AudioCodec {
  /** The encoding name in SDP (RFC 3551 §6). */
  name: 'PCMU' | 'PCMA';
  payloadType: number;
  clockRate: number;
  /** 16-bit linear samples → one byte each. */
  encode(pcm: Int16Array, out: Uint8Array): void;
  decode(payload: Uint8Array, out: Int16Array): void;
}

function tables(law: typeof alawmulaw.mulaw): { encode: Uint8Array; decode: Int16Array } {
  const encode = new Uint8Array(65536);
  for (let s = -32768; s < 32768; s++) encode[s & 0xffff] = law.encodeSample(s) & 0xff;
  const decode = new Int16Array(256);
  for (let b = 0; b < 256; b++) decode[b] = law.decodeSample(b);
  return { encode, decode };
}

function codec(name: 'PCMU' | 'PCMA', payloadType: number, law: typeof alawmulaw.mulaw): AudioCodec {
  let t: ReturnType<typeof tables> | undefined;
  const get = () => (t ??= tables(law));
  return {
    name,
    payloadType,
    clockRate: 8000,
    encode(pcm, out) {
      const e = get().encode;
      const n = Math.min(pcm.length, out.length);
      for (let i = 0; i < n; i++) out[i] = e[pcm[i]! & 0xffff]!;
    },
    decode(payload, out) {
      const d = get().decode;
      const n = Math.min(payload.length, out.length);
      for (let i = 0; i < n; i++) out[i] = d[payload[i]!]!;
    },
  };
}

export const PCMU = codec('PCMU', 0, alawmulaw.mulaw);
export const PCMA = codec('PCMA', 8, alawmulaw.alaw);

/** The codecs this layer speaks, in our order of preference. */
export const CODECS: readonly AudioCodec[] = [PCMU, PCMA];

export function codecByName(name: string): AudioCodec | undefined {
  const upper = name.toUpperCase();
  return CODECS.find((c) => c.name === upper);
}
