// The media side of a test phone: sends 20 ms PCMU packets (silence or a tone) to the
// address the SDP answer gave, sends key presses as RFC 4733 events, and keeps what it
// receives decoded, to be measured by the test. Raw UDP and test-side G.711: none of the
// pbx's media code.
import { createSocket, type Socket } from 'node:dgram';
import { linearToUlaw, ulawToLinear } from './audio.ts';

export class RtpPeer {
  private socket!: Socket;
  port = 0;
  private timer: NodeJS.Timeout | undefined;
  private seq = Math.floor(Math.random() * 60000);
  private ts = Math.floor(Math.random() * 1e9);
  private readonly ssrc = Math.floor(Math.random() * 0xffffffff);
  private toneHz = 0;
  private phase = 0;
  private remote: { host: string; port: number } | undefined;
  private digits: string[] = [];
  /** Decoded samples received, in arrival order. */
  readonly received: number[] = [];

  private address = '127.0.0.1';

  /** Binds a port on `address` (another host's address in a network namespace). */
  async open(address = '127.0.0.1'): Promise<this> {
    this.address = address;
    this.socket = createSocket('udp4');
    this.socket.on('message', (m) => {
      if (m.length < 12 || (m[0]! & 0xc0) !== 0x80) return;
      if ((m[1]! & 0x7f) !== 0) return;
      for (let i = 12; i < m.length; i++) this.received.push(ulawToLinear(m[i]!));
    });
    await new Promise<void>((ok) => this.socket.bind(0, address, () => ok()));
    this.port = this.socket.address().port;
    return this;
  }

  sdp(): string {
    return `v=0\r\no=- 1 1 IN IP4 ${this.address}\r\ns=-\r\nc=IN IP4 ${this.address}\r\nt=0 0\r\nm=audio ${this.port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n`;
  }

  /** Starts sending to the address and port of the SDP answer (or to `host`, where the answer's address is not reachable from here). */
  start(answer: string, host = /c=IN IP4 (\S+)/.exec(answer)?.[1] ?? '127.0.0.1'): void {
    const port = Number(/m=audio (\d+)/.exec(answer)?.[1]);
    this.remote = { host, port };
    this.timer = setInterval(() => this.tick(), 20);
  }

  tone(hz: number): void {
    this.toneHz = hz;
  }

  /** Queues key presses (RFC 4733, 100 ms each, 60 ms apart). */
  press(keys: string): void {
    this.digits.push(...keys);
  }

  /** Resolves once every queued key went out. */
  async pressed(): Promise<void> {
    while (this.digits.length > 0 || this.event) await new Promise((r) => setTimeout(r, 20));
  }

  close(): void {
    clearInterval(this.timer);
    this.socket.close();
  }

  private event: { code: number; start: number; tick: number } | null = null;
  private gap = 0;

  private tick(): void {
    if (!this.remote) return;
    if (this.event || (this.gap === 0 && this.digits.length > 0)) {
      this.sendEvent();
      return;
    }
    if (this.gap > 0) this.gap--;
    const payload = Buffer.alloc(160);
    for (let i = 0; i < 160; i++) {
      const s = this.toneHz ? Math.sin(this.phase) * 8000 : 0;
      this.phase += (2 * Math.PI * this.toneHz) / 8000;
      payload[i] = linearToUlaw(Math.round(s));
    }
    this.send(0, payload, false, this.ts);
    this.ts = (this.ts + 160) >>> 0;
  }

  private sendEvent(): void {
    if (!this.event) {
      const d = this.digits.shift()!;
      const code = d === '*' ? 10 : d === '#' ? 11 : Number(d);
      this.event = { code, start: this.ts, tick: 0 };
    }
    const e = this.event;
    e.tick++;
    const end = e.tick >= 5;
    const duration = e.tick * 160;
    const payload = Buffer.from([e.code, (end ? 0x80 : 0) | 10, (duration >> 8) & 0xff, duration & 0xff]);
    // The end packet goes three times (RFC 4733 §2.5.1.4).
    for (let i = 0; i < (end ? 3 : 1); i++) this.send(101, payload, e.tick === 1, e.start);
    if (end) {
      this.event = null;
      this.ts = (this.ts + duration) >>> 0;
      this.gap = 3;
    }
  }

  private send(pt: number, payload: Buffer, marker: boolean, timestamp: number): void {
    const h = Buffer.alloc(12);
    h[0] = 0x80;
    h[1] = (marker ? 0x80 : 0) | pt;
    h.writeUInt16BE(this.seq, 2);
    this.seq = (this.seq + 1) & 0xffff;
    h.writeUInt32BE(timestamp >>> 0, 4);
    h.writeUInt32BE(this.ssrc >>> 0, 8);
    this.socket.send(Buffer.concat([h, payload]), this.remote!.port, this.remote!.host);
  }
}

type Caller<C> = { invite: (to: string, sdp: string) => Promise<C & { status: number; body: string }>; bye: (c: C) => Promise<unknown> };

/**
 * A caller starts leaving a voicemail message: calls `mailbox` from `ua`, skips the
 * greeting with '#', and plays `hz` from then on. The test phone must exist already.
 */
export async function startVoicemail<C>(ua: Caller<C>, mailbox: string, hz: number): Promise<{ media: RtpPeer; call: C & { status: number; body: string } }> {
  const media = await new RtpPeer().open();
  const call = await ua.invite(mailbox, media.sdp());
  if (call.status !== 200) {
    media.close();
    throw new Error(`voicemail did not answer: ${call.status}`);
  }
  media.start(call.body);
  await new Promise((r) => setTimeout(r, 400));
  media.press('#');
  await media.pressed();
  media.tone(hz);
  return { media, call };
}

/** Leaves a voicemail message: `ms` of `hz` after the greeting, then hangs up. */
export async function leaveVoicemail<C>(ua: Caller<C>, mailbox: string, hz: number, ms = 2000): Promise<void> {
  const { media, call } = await startVoicemail(ua, mailbox, hz);
  try {
    await new Promise((r) => setTimeout(r, 300 + ms));
    await ua.bye(call);
  } finally {
    media.close();
  }
}
