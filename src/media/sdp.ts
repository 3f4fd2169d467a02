// SDP offer/answer for one audio stream (RFC 3264, RFC 4566), parsed and written with
// sdp-transform. A malformed description is a 400 (the request is wrong), an offer
// with no codec in common a 488 (RFC 3261 §13.3.1.1): the error carries which.
import sdpTransform from 'sdp-transform';
import { isIPv6 } from 'node:net';
import { CODECS, codecByName, type AudioCodec } from './g711.js';

export type Direction = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

export class SdpError extends Error {
  constructor(
    readonly status: 400 | 488,
    message: string,
  ) {
    super(message);
    this.name = 'SdpError';
  }
}

/** The audio stream a peer described. */
export interface RemoteAudio {
  /** Index of the audio m-line among all m-lines (the answer keeps their order, §6). */
  index: number;
  mediaCount: number;
  address: string;
  port: number;
  /** RTCP port (RFC 3605 a=rtcp, else port + 1), or null with rtcp-mux. */
  rtcpPort: number | null;
  rtcpMux: boolean;
  /** Payload types in the peer's order of preference, with what rtpmap says of them. */
  formats: { payloadType: number; encoding: string; clockRate: number }[];
  direction: Direction;
  ptime: number | null;
  /** All m-lines (type, protocol and formats), to reject the others in an answer. */
  media: { type: string; protocol: string; payloads: string }[];
}

/** What both sides will use. */
export interface Negotiated {
  codec: AudioCodec;
  /** The payload type the peer uses for it (static 0/8, but peers may map dynamically). */
  payloadType: number;
  /** The peer's telephone-event payload type (RFC 4733), or null. */
  telephoneEvent: number | null;
  remote: RemoteAudio;
}

const STATIC: Record<number, { encoding: string; clockRate: number }> = {
  0: { encoding: 'PCMU', clockRate: 8000 },
  8: { encoding: 'PCMA', clockRate: 8000 },
  9: { encoding: 'G722', clockRate: 8000 },
  13: { encoding: 'CN', clockRate: 8000 },
  18: { encoding: 'G729', clockRate: 8000 },
};

export function parseRemoteAudio(text: string): RemoteAudio {
  if (!/^v=0\r?\n/.test(text)) throw new SdpError(400, 'Malformed SDP: it must start with v=0');
  let session: sdpTransform.SessionDescription;
  try {
    session = sdpTransform.parse(text);
  } catch (err) {
    throw new SdpError(400, `Malformed SDP: ${(err as Error).message}`);
  }
  const media = session.media ?? [];
  const index = media.findIndex((m) => m.type === 'audio' && m.port !== 0);
  if (index < 0) throw new SdpError(488, 'No audio stream offered');
  const m = media[index]!;
  if (!/^RTP\/(S?AVPF?)$/.test(m.protocol ?? '')) throw new SdpError(488, `Audio over ${m.protocol ?? '(none)'} is not supported (RTP/AVP is)`);
  const address = m.connection?.ip ?? session.connection?.ip;
  if (!address) throw new SdpError(400, 'Malformed SDP: no connection address (c=) for the audio stream');
  if (!Number.isInteger(m.port) || m.port < 1 || m.port > 65535) throw new SdpError(400, `Malformed SDP: audio port ${m.port} is out of range`);
  const payloads = String(m.payloads ?? '')
    .split(/\s+/)
    .filter(Boolean);
  if (payloads.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 127)) throw new SdpError(400, `Malformed SDP: bad payload type list "${m.payloads}"`);
  const formats = payloads.map((p) => {
    const pt = Number(p);
    const map = m.rtp?.find((r) => r.payload === pt);
    if (map) return { payloadType: pt, encoding: map.codec, clockRate: map.rate ?? 8000 };
    const known = STATIC[pt];
    return { payloadType: pt, encoding: known?.encoding ?? `pt${pt}`, clockRate: known?.clockRate ?? 8000 };
  });
  const rtcpMux = m.rtcpMux !== undefined;
  const direction = (m.direction ?? session.direction ?? 'sendrecv') as Direction;
  return {
    index,
    mediaCount: media.length,
    address,
    port: m.port,
    rtcpPort: rtcpMux ? null : (m.rtcp?.port ?? m.port + 1),
    rtcpMux,
    formats,
    // RFC 3264 §8.4: c=0.0.0.0 is the old way of putting a call on hold.
    direction: address === '0.0.0.0' && direction === 'sendrecv' ? 'sendonly' : direction,
    ptime: m.ptime ?? null,
    media: media.map((x) => ({ type: x.type, protocol: x.protocol, payloads: String(x.payloads ?? '') })),
  };
}

/** Picks the first of the peer's formats we speak (the offerer's preference, RFC 3264 §6.1). */
export function negotiate(remote: RemoteAudio, supported: readonly AudioCodec[] = CODECS): Negotiated {
  let chosen: { codec: AudioCodec; payloadType: number } | undefined;
  for (const f of remote.formats) {
    const codec = codecByName(f.encoding);
    if (codec && supported.includes(codec) && f.clockRate === codec.clockRate) {
      chosen = { codec, payloadType: f.payloadType };
      break;
    }
  }
  if (!chosen) {
    throw new SdpError(488, `No codec in common: offered ${remote.formats.map((f) => f.encoding).join(', ') || 'none'}; supported ${supported.map((c) => c.name).join(', ')}`);
  }
  const te = remote.formats.find((f) => f.encoding.toLowerCase() === 'telephone-event' && f.clockRate === chosen.codec.clockRate);
  return { ...chosen, telephoneEvent: te?.payloadType ?? null, remote };
}

/** §6.1: the answer's direction for an offered one. */
export function answerDirection(offered: Direction, ours: Direction = 'sendrecv'): Direction {
  const send = (offered === 'sendrecv' || offered === 'recvonly') && (ours === 'sendrecv' || ours === 'sendonly');
  const recv = (offered === 'sendrecv' || offered === 'sendonly') && (ours === 'sendrecv' || ours === 'recvonly');
  return send && recv ? 'sendrecv' : send ? 'sendonly' : recv ? 'recvonly' : 'inactive';
}

export interface LocalAudio {
  /** o= session id and version (the version grows with every new description, §8). */
  sessionId: number;
  sessionVersion: number;
  /** Address written in o= and c=. */
  address: string;
  port: number;
  username?: string;
}

/** The answer to `n.remote`'s offer: the chosen codec and telephone-event on our port, other m-lines rejected (port 0, §6). */
export function answer(local: LocalAudio, n: Negotiated, ours: Direction = 'sendrecv'): string {
  const media: sdpTransform.MediaDescription[] = n.remote.media.map((m, i) => {
    if (i !== n.remote.index) return { type: m.type, port: 0, protocol: m.protocol, payloads: m.payloads || '0', rtp: [], fmtp: [] };
    return audioMedia(local.port, n.codec, n.payloadType, n.telephoneEvent, answerDirection(n.remote.direction, ours), n.remote.rtcpMux);
  });
  return description(local, media);
}

/** An offer of our codecs (in our order) and telephone-event on payload type 101. */
export function offer(local: LocalAudio, codecs: readonly AudioCodec[] = CODECS, direction: Direction = 'sendrecv'): string {
  const m = audioMedia(local.port, codecs[0]!, codecs[0]!.payloadType, 101, direction, false, codecs);
  return description(local, [m]);
}

/**
 * The SDP a relay puts in front of `remote`'s (an anchored call, RFC 3264 §6/§8): the
 * same audio formats with their payload type numbers (packets pass through unchanged),
 * less the codecs `keep` refuses, telephone-event kept, the same direction, on our
 * address and port. With `keepOrder` (an answer) the other m-lines stay in place,
 * rejected (port 0); an offer carries the audio alone. 488 when no codec is left.
 */
export function relayedAudio(remote: RemoteAudio, local: LocalAudio, keep: (encoding: string) => boolean, keepOrder: boolean): string {
  const isEvent = (f: { encoding: string }) => f.encoding.toLowerCase() === 'telephone-event';
  const formats = remote.formats.filter((f) => isEvent(f) || keep(f.encoding.toUpperCase()));
  if (!formats.some((f) => !isEvent(f))) {
    throw new SdpError(488, `No codec in common: offered ${remote.formats.map((f) => f.encoding).join(', ') || 'none'}`);
  }
  const audio: sdpTransform.MediaDescription = {
    type: 'audio',
    port: local.port,
    protocol: 'RTP/AVP',
    payloads: formats.map((f) => f.payloadType).join(' '),
    rtp: formats.map((f) => ({ payload: f.payloadType, codec: f.encoding, rate: f.clockRate })),
    fmtp: formats.filter(isEvent).map((f) => ({ payload: f.payloadType, config: '0-16' })),
    ...(remote.ptime ? { ptime: remote.ptime } : {}),
    direction: remote.direction,
  };
  const media = keepOrder
    ? remote.media.map((m, i) => (i === remote.index ? audio : { type: m.type, port: 0, protocol: m.protocol, payloads: m.payloads || '0', rtp: [], fmtp: [] }))
    : [audio];
  return description(local, media);
}

function description(local: LocalAudio, media: sdpTransform.MediaDescription[]): string {
  return sdpTransform.write({
    version: 0,
    origin: { username: local.username ?? 'pbx', sessionId: local.sessionId, sessionVersion: local.sessionVersion, netType: 'IN', ipVer: isIPv6(local.address) ? 6 : 4, address: local.address },
    name: 'pbx',
    connection: { version: isIPv6(local.address) ? 6 : 4, ip: local.address },
    timing: { start: 0, stop: 0 },
    media,
  });
}

function audioMedia(
  port: number,
  codec: AudioCodec,
  payloadType: number,
  telephoneEvent: number | null,
  direction: Direction,
  rtcpMux: boolean,
  all: readonly AudioCodec[] = [codec],
): sdpTransform.MediaDescription {
  const rtp: { payload: number; codec: string; rate: number }[] = all.map((c) => ({ payload: c === codec ? payloadType : c.payloadType, codec: c.name, rate: c.clockRate }));
  const fmtp: { payload: number; config: string }[] = [];
  if (telephoneEvent !== null) {
    rtp.push({ payload: telephoneEvent, codec: 'telephone-event', rate: codec.clockRate });
    fmtp.push({ payload: telephoneEvent, config: '0-16' });
  }
  return {
    type: 'audio',
    port,
    protocol: 'RTP/AVP',
    payloads: rtp.map((r) => r.payload).join(' '),
    rtp,
    fmtp,
    ptime: 20,
    direction,
    ...(rtcpMux ? { rtcpMux: 'rtcp-mux' } : {}),
  };
}
