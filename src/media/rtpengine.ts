// Relays through rtpengine (Sipwise's media proxy; Debian's rtpengine-daemon), driven
// over its ng control protocol: UDP datagrams `<cookie> <dictionary>`, the dictionary
// in JSON (rtpengine takes JSON as well as bencode). A relay is one rtpengine call
// with two monologues, A and B: an `offer` from A gives the port B must send to, an
// `answer` from B the port A must send to; both are made at once with the discard
// port (9) and sent again with each side's real address when it is known, with the
// `port latching` flag so that rtpengine keeps its ports. Figures come from `query`
// once a second; `delete` ends it (with no `delete delay`: the ports are free at once).
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import type { MediaRelay, RelaySideName, RelayStats, RemoteMedia } from './engine.js';

export class RtpengineError extends Error {
  override name = 'RtpengineError';
}

type Dict = Record<string, unknown>;

/** The ng control channel: one socket, requests matched to answers by cookie, retried, timed out. */
export class NgClient {
  private socket: Socket | null = null;
  private readonly pending = new Map<string, { resolve: (d: Dict) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private seq = 0;
  private readonly prefix = randomBytes(4).toString('hex');

  constructor(
    /** host:port of rtpengine's listen-ng. */
    private readonly target: () => string,
    private readonly timeoutMs = 1000,
    private readonly attempts = 3,
  ) {}

  async request(command: string, args: Dict = {}): Promise<Dict> {
    const { host, port } = parseTarget(this.target());
    const socket = this.open(host);
    const cookie = `${this.prefix}_${++this.seq}`;
    const message = Buffer.from(`${cookie} ${JSON.stringify({ command, ...args })}`);
    return new Promise<Dict>((resolve, reject) => {
      let tries = 0;
      const send = () => {
        if (tries++ === this.attempts) {
          this.pending.delete(cookie);
          return reject(new RtpengineError(`rtpengine at ${host}:${port} did not answer ${command} (${this.attempts} tries)`));
        }
        socket.send(message, port, host);
        entry.timer = setTimeout(send, this.timeoutMs);
        entry.timer.unref();
      };
      const entry = {
        resolve: (d: Dict) => {
          if (d['result'] === 'error') reject(new RtpengineError(`rtpengine refused ${command}: ${String(d['error-reason'] ?? 'no reason given')}`));
          else resolve(d);
        },
        reject,
        timer: undefined as unknown as NodeJS.Timeout,
      };
      this.pending.set(cookie, entry);
      send();
    });
  }

  close(): void {
    for (const [cookie, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new RtpengineError('closed'));
      this.pending.delete(cookie);
    }
    this.socket?.close();
    this.socket = null;
  }

  private open(host: string): Socket {
    if (this.socket) return this.socket;
    const socket = createSocket(isIP(host) === 6 ? 'udp6' : 'udp4');
    socket.on('message', (msg) => {
      const text = msg.toString('utf8');
      const space = text.indexOf(' ');
      const p = this.pending.get(text.slice(0, space));
      if (!p) return; // a late answer to a retried request
      this.pending.delete(text.slice(0, space));
      clearTimeout(p.timer);
      try {
        p.resolve(JSON.parse(text.slice(space + 1)) as Dict);
      } catch {
        p.reject(new RtpengineError('rtpengine answered something that is not JSON'));
      }
    });
    socket.on('error', () => {
      /* a send to a closed port (ICMP): the request times out and says so */
    });
    socket.unref();
    this.socket = socket;
    return socket;
  }
}

function parseTarget(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):(\d{1,5})$/.exec(text);
  if (!m) throw new RtpengineError(`media.rtpengine.ng: "${text}" is not host:port`);
  return { host: (m[1] ?? m[2])!, port: Number(m[3]) };
}

/** A minimal SDP offering what a side said (rtpengine relays packets as they are: formats do not matter to it). */
function sideSdp(remote: RemoteMedia): string {
  const v6 = isIP(remote.address) === 6;
  const ip = `IN ${v6 ? 'IP6' : 'IP4'} ${remote.address}`;
  const lines = ['v=0', `o=- 1 1 ${ip}`, 's=-', `c=${ip}`, 't=0 0', `m=audio ${remote.port} RTP/AVP 0 8 101`, 'a=rtpmap:101 telephone-event/8000', 'a=sendrecv'];
  if (remote.rtcpPort !== null && remote.rtcpPort !== remote.port + 1) lines.push(`a=rtcp:${remote.rtcpPort}`);
  return `${lines.join('\r\n')}\r\n`;
}

function mediaOf(sdp: unknown): { address: string; port: number } {
  const text = typeof sdp === 'string' ? sdp : '';
  const port = Number(/^m=audio (\d+)/m.exec(text)?.[1]);
  const address = /^c=IN IP[46] (\S+)/m.exec(text)?.[1];
  if (!port || !address) throw new RtpengineError('rtpengine answered without an audio stream');
  return { address, port };
}

const COMMON = { ICE: 'remove', replace: ['origin', 'session-connection'], flags: ['port latching'] };

export class RtpengineRelay implements MediaRelay {
  readonly ports = { a: 0, b: 0 };
  /** rtpengine's media address (its interface, or the address it advertises). */
  address = '';
  onFailure: (reason: string) => void = () => {};
  onDigit: (side: RelaySideName, digit: string, ms: number) => void = () => {};
  private readonly callId = `pbx-${randomBytes(8).toString('hex')}`;
  private readonly tagA = `a${randomBytes(4).toString('hex')}`;
  private readonly tagB = `b${randomBytes(4).toString('hex')}`;
  private figures: RelayStats = emptyStats();
  private chain: Promise<unknown> = Promise.resolve();
  private poller: NodeJS.Timeout | undefined;
  private closed = false;
  private failed = false;

  private constructor(private readonly ng: NgClient) {}

  /** Opens the call in rtpengine (both sides at the discard port until their real addresses come). */
  static async open(ng: NgClient): Promise<RtpengineRelay> {
    const r = new RtpengineRelay(ng);
    const placeholder = { address: '127.0.0.1', port: 9, rtcpPort: null };
    const offer = await ng.request('offer', { ...COMMON, 'call-id': r.callId, 'from-tag': r.tagA, sdp: sideSdp(placeholder) });
    const towardB = mediaOf(offer['sdp']);
    const answer = await ng.request('answer', { ...COMMON, 'call-id': r.callId, 'from-tag': r.tagA, 'to-tag': r.tagB, sdp: sideSdp(placeholder) });
    const towardA = mediaOf(answer['sdp']);
    r.ports.a = towardA.port;
    r.ports.b = towardB.port;
    r.address = towardA.address;
    r.poller = setInterval(() => void r.poll(), 1000);
    r.poller.unref();
    return r;
  }

  get stats(): RelayStats {
    return this.figures;
  }

  /**
   * rtpengine reports key presses only to the UDP address its own --dtmf-log-dest names,
   * not over ng: they stay in RTP (the caller logs that a provider wanting SIP INFO
   * will not get them).
   */
  takeDigits(): boolean {
    return false;
  }

  update(side: RelaySideName, remote: RemoteMedia): void {
    // Offer and answer in the order they were made: an offer from A, an answer from B.
    const args = side === 'a' ? { 'call-id': this.callId, 'from-tag': this.tagA } : { 'call-id': this.callId, 'from-tag': this.tagA, 'to-tag': this.tagB };
    this.chain = this.chain
      .then(() => this.ng.request(side === 'a' ? 'offer' : 'answer', { ...COMMON, ...args, sdp: sideSdp(remote) }))
      .then((d) => {
        const port = mediaOf(d['sdp']).port;
        if (port !== (side === 'a' ? this.ports.b : this.ports.a)) this.fail(`rtpengine moved the ${side === 'a' ? 'B' : 'A'} side to port ${port}`);
      })
      .catch((err: Error) => this.fail(err.message));
  }

  /** Resolves once the offers and answers sent so far are answered. */
  async settled(): Promise<void> {
    await this.chain;
  }

  async close(): Promise<RelayStats> {
    if (this.closed) return this.figures;
    this.closed = true;
    clearInterval(this.poller);
    await this.chain;
    await this.poll(true);
    await this.ng.request('delete', { 'call-id': this.callId, 'from-tag': this.tagA, 'delete delay': 0 }).catch(() => undefined);
    return this.figures;
  }

  private fail(reason: string): void {
    if (this.failed || this.closed) return;
    this.failed = true;
    this.onFailure(reason);
  }

  /** Packets per side from `query`; a count that grew since the last poll means RTP is flowing now. */
  private async poll(final = false): Promise<void> {
    if (this.closed && !final) return;
    let d: Dict;
    try {
      d = await this.ng.request('query', { 'call-id': this.callId });
    } catch (err) {
      if (!final) this.fail((err as Error).message);
      return;
    }
    const now = Date.now();
    const tags = (d['tags'] ?? {}) as Record<string, { medias?: { streams?: { flags?: string[]; stats?: { packets?: number; errors?: number } }[] }[] }>;
    const side = (tag: string, previous: RelayStats['a']) => {
      const rtp = tags[tag]?.medias?.[0]?.streams?.find((s) => s.flags?.includes('RTP'));
      const received = rtp?.stats?.packets ?? previous.received;
      return {
        received,
        forwarded: received,
        ignored: rtp?.stats?.errors ?? previous.ignored,
        lastReceivedAt: received > previous.received ? now : previous.lastReceivedAt,
      };
    };
    this.figures = { a: side(this.tagA, this.figures.a), b: side(this.tagB, this.figures.b) };
  }
}

function emptyStats(): RelayStats {
  return { a: { received: 0, forwarded: 0, ignored: 0, lastReceivedAt: 0 }, b: { received: 0, forwarded: 0, ignored: 0, lastReceivedAt: 0 } };
}
