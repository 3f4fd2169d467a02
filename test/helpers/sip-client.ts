// A small SIP user agent over real UDP sockets on 127.0.0.1, for tests that need to
// craft exact requests (replayed credentials, another user's AOR, raw torture bytes)
// or act as a simulated phone. Digest responses are computed independently of the
// server's code, from RFC 7616's formulas.
import { createHash, randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';

export interface Answer {
  status: number;
  reason: string;
  extra?: string[];
  /** An SDP body (Content-Type: application/sdp). */
  body?: string;
}

export interface SipReply {
  status: number;
  reason: string;
  headers: Map<string, string[]>;
  raw: string;
}

export interface OutgoingCall {
  status: number;
  reply: SipReply;
  /** The answer's body (SDP). */
  body: string;
  callId: string;
  from: string;
  /** With the callee's tag. */
  to: string;
  cseq: number;
  contact: string;
  /** The route set (the 2xx's Record-Route, reversed: §12.1.2): Route headers of ACK and BYE. */
  route: string[];
}

export interface SipRequestIn {
  method: string;
  uri: string;
  headers: Map<string, string[]>;
  raw: string;
}

const h = (algo: string, s: string) => createHash(algo === 'SHA-256' ? 'sha256' : 'md5').update(s).digest('hex');

export class TestUa {
  private socket!: Socket;
  port = 0;
  private waiters: { match: (r: SipReply) => boolean; resolve: (r: SipReply) => void }[] = [];
  readonly requests: SipRequestIn[] = [];
  readonly replies: SipReply[] = [];
  private requestWaiters: { match: (r: SipRequestIn) => boolean; resolve: (r: SipRequestIn) => void }[] = [];
  /** Answers incoming requests; default: 200 OK. */
  onRequest: (req: SipRequestIn) => Answer | Answer[] | null = () => ({ status: 200, reason: 'OK' });
  private cseq = 1;
  /** What Via and Contact claim, as a phone behind NAT writes its private address; default: the real socket. */
  sentBy: string | null = null;

  constructor(
    readonly server: { host: string; port: number },
    readonly user: string,
    readonly password: string,
  ) {}

  private readonly sent = new Map<string, number>();

  /** How many requests of this method this phone sent (new transactions, not retransmissions). */
  sentRequests(method: string): number {
    return this.sent.get(method) ?? 0;
  }

  async open(port = 0, host = '127.0.0.1'): Promise<this> {
    this.socket = createSocket('udp4');
    this.socket.on('message', (buf) => this.receive(buf.toString('latin1')));
    await new Promise<void>((ok) => this.socket.bind(port, host, () => ok()));
    this.port = this.socket.address().port;
    return this;
  }

  close(): void {
    this.socket.close();
  }

  sendRaw(text: string | Buffer): void {
    this.socket.send(typeof text === 'string' ? Buffer.from(text, 'latin1') : text, this.server.port, this.server.host);
  }

  /** Sends a request and resolves with its first final response (or the first response matching `until`). */
  async request(
    method: string,
    opts: { uri?: string; to?: string; from?: string; callId?: string; headers?: string[]; body?: string; cseq?: number; branch?: string; wantProvisional?: boolean; contact?: string; timeoutMs?: number } = {},
  ): Promise<SipReply & { sent: string }> {
    const callId = opts.callId ?? randomBytes(8).toString('hex');
    const cseq = opts.cseq ?? this.cseq++;
    const branch = opts.branch ?? `z9hG4bK${randomBytes(6).toString('hex')}`;
    const uri = opts.uri ?? `sip:${this.server.host}:${this.server.port}`;
    const from = opts.from ?? `<sip:${this.user}@${this.server.host}>;tag=${randomBytes(4).toString('hex')}`;
    const to = opts.to ?? `<sip:${this.user}@${this.server.host}>`;
    const body = opts.body ?? '';
    const text =
      `${method} ${uri} SIP/2.0\r\n` +
      `Via: SIP/2.0/UDP ${this.sentBy ?? `127.0.0.1:${this.port}`};branch=${branch};rport\r\n` +
      `Max-Forwards: 70\r\nFrom: ${from}\r\nTo: ${to}\r\nCall-ID: ${callId}\r\nCSeq: ${cseq} ${method}\r\n` +
      `Contact: ${opts.contact ?? `<sip:${this.user}@${this.sentBy ?? `127.0.0.1:${this.port}`}>`}\r\nUser-Agent: pbx-test-ua\r\n` +
      (opts.headers ?? []).map((x) => `${x}\r\n`).join('') +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    const reply = this.waitReply(
      (r) => r.headers.get('call-id')?.[0] === callId && r.headers.get('cseq')?.[0] === `${cseq} ${method}` && (opts.wantProvisional || r.status >= 200),
      opts.timeoutMs,
    );
    this.sent.set(method, (this.sent.get(method) ?? 0) + 1);
    this.sendRaw(text);
    return { ...(await reply), sent: text };
  }

  /** REGISTER, answering one digest challenge. Returns the final reply and the authenticated request text. */
  async register(opts: { expires?: number; aor?: string; password?: string; algorithm?: string; contact?: string } = {}) {
    const aor = opts.aor ?? this.user;
    const callId = randomBytes(8).toString('hex');
    const base = {
      to: `<sip:${aor}@${this.server.host}>`,
      from: `<sip:${aor}@${this.server.host}>;tag=${randomBytes(4).toString('hex')}`,
      callId,
      headers: [`Expires: ${opts.expires ?? 300}`],
      ...(opts.contact ? { contact: opts.contact } : {}),
    };
    const first = await this.request('REGISTER', base);
    if (first.status !== 401) return { reply: first, authorized: first.sent };
    const auth = this.authorize('REGISTER', `sip:${this.server.host}:${this.server.port}`, first, 'www-authenticate', opts.password, opts.algorithm);
    const second = await this.request('REGISTER', { ...base, headers: [...base.headers, `Authorization: ${auth}`] });
    return { reply: second, authorized: second.sent, authorization: auth };
  }

  /**
   * A call: INVITE with `sdp` (answering one proxy challenge), ACK for the final response
   * (same branch for a non-2xx, a new one for a 2xx, RFC 3261 §17.1.1.3 / §13.2.2.4).
   */
  async invite(target: string, sdp: string, headers: string[] = [], answerInAck?: (offer: string) => string): Promise<OutgoingCall> {
    const callId = randomBytes(8).toString('hex');
    const from = `<sip:${this.user}@${this.server.host}>;tag=${randomBytes(4).toString('hex')}`;
    const uri = `sip:${target}@${this.server.host}:${this.server.port}`;
    const to = `<sip:${target}@${this.server.host}>`;
    const base = { uri, from, to, callId, body: sdp, headers: ['Content-Type: application/sdp', ...headers] };
    let cseq = this.cseq++;
    let branch = `z9hG4bK${randomBytes(6).toString('hex')}`;
    let reply = await this.request('INVITE', { ...base, cseq, branch, timeoutMs: 20_000 });
    if (reply.status === 407) {
      this.ack(uri, from, reply, callId, cseq, branch);
      const auth = this.authorize('INVITE', uri, reply, 'proxy-authenticate');
      cseq = this.cseq++;
      branch = `z9hG4bK${randomBytes(6).toString('hex')}`;
      reply = await this.request('INVITE', { ...base, cseq, branch, headers: [...base.headers, `Proxy-Authorization: ${auth}`], timeoutMs: 20_000 });
    }
    const toWithTag = reply.headers.get('to')?.[0] ?? to;
    const contact = /<([^>]+)>/.exec(reply.headers.get('contact')?.[0] ?? '')?.[1] ?? uri;
    const ok = reply.status >= 200 && reply.status < 300;
    const body = reply.raw.split('\r\n\r\n').slice(1).join('\r\n\r\n');
    const route = ok ? (reply.headers.get('record-route') ?? []).flatMap((v) => v.split(/,(?=\s*<)/).map((r) => r.trim())).reverse() : [];
    this.ack(ok ? contact : uri, from, reply, callId, cseq, ok ? `z9hG4bK${randomBytes(6).toString('hex')}` : branch, ok && answerInAck ? answerInAck(body) : '', route);
    return { status: reply.status, reply, body, callId, from, to: toWithTag, cseq, contact, route };
  }

  /** Hangs up a call this UA made. */
  async bye(call: OutgoingCall) {
    return this.request('BYE', { uri: call.contact, from: call.from, to: call.to, callId: call.callId, cseq: this.cseq++, headers: call.route.map((r) => `Route: ${r}`) });
  }

  private ack(uri: string, from: string, reply: SipReply, callId: string, cseq: number, branch: string, body = '', route: string[] = []): void {
    const to = reply.headers.get('to')?.[0] ?? '';
    this.sendRaw(
      `ACK ${uri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${this.port};branch=${branch};rport\r\nMax-Forwards: 70\r\n` +
        route.map((r) => `Route: ${r}\r\n`).join('') +
        `From: ${from}\r\nTo: ${to}\r\nCall-ID: ${callId}\r\nCSeq: ${cseq} ACK\r\n` +
        (body ? 'Content-Type: application/sdp\r\n' : '') +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  }

  /** The Authorization value answering a challenge, computed from RFC 7616. */
  authorize(method: string, uri: string, challenge: SipReply, header: string, password = this.password, algorithm?: string, user = this.user): string {
    const all = challenge.headers.get(header) ?? [];
    const chosen = all.find((c) => !algorithm || c.includes(`algorithm=${algorithm}`)) ?? all[0]!;
    const p = (k: string) => new RegExp(`${k}="?([^",]+)"?`).exec(chosen)?.[1] ?? '';
    const realm = p('realm');
    const nonce = p('nonce');
    const algo = p('algorithm') || 'MD5';
    const cnonce = randomBytes(4).toString('hex');
    const nc = '00000001';
    const ha1 = h(algo, `${user}:${realm}:${password}`);
    const ha2 = h(algo, `${method}:${uri}`);
    const response = h(algo, `${ha1}:${nonce}:${nc}:${cnonce}:auth:${ha2}`);
    return `Digest username="${user}", realm="${realm}", nonce="${nonce}", uri="${uri}", response="${response}", algorithm=${algo}, cnonce="${cnonce}", qop=auth, nc=${nc}`;
  }

  waitRequest(match: (r: SipRequestIn) => boolean, timeoutMs = 5000): Promise<SipRequestIn> {
    const found = this.requests.find(match);
    if (found) return Promise.resolve(found);
    return new Promise((ok, fail) => {
      const t = setTimeout(() => fail(new Error(`${this.user}: no matching request within ${timeoutMs} ms`)), timeoutMs);
      this.requestWaiters.push({ match, resolve: (r) => (clearTimeout(t), ok(r)) });
    });
  }

  waitReply(match: (r: SipReply) => boolean, timeoutMs = 5000, includePast = false): Promise<SipReply> {
    const past = includePast ? this.replies.find(match) : undefined;
    if (past) return Promise.resolve(past);
    return new Promise((ok, fail) => {
      const t = setTimeout(() => fail(new Error(`${this.user}: no matching response within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({ match, resolve: (r) => (clearTimeout(t), ok(r)) });
    });
  }

  private receive(text: string): void {
    const [head] = text.split('\r\n\r\n');
    const lines = head!.split('\r\n');
    const headers = new Map<string, string[]>();
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':');
      const name = l.slice(0, i).trim().toLowerCase();
      headers.set(name, [...(headers.get(name) ?? []), l.slice(i + 1).trim()]);
    }
    const start = lines[0]!;
    if (start.startsWith('SIP/2.0')) {
      const m = /^SIP\/2\.0 (\d{3}) ?(.*)$/.exec(start)!;
      const reply = { status: Number(m[1]), reason: m[2]!, headers, raw: text };
      this.replies.push(reply);
      const w = this.waiters.findIndex((x) => x.match(reply));
      if (w >= 0) this.waiters.splice(w, 1)[0]!.resolve(reply);
      return;
    }
    const [method, uri] = start.split(' ');
    const req = { method: method!, uri: uri!, headers, raw: text };
    this.requests.push(req);
    const w = this.requestWaiters.findIndex((x) => x.match(req));
    if (w >= 0) this.requestWaiters.splice(w, 1)[0]!.resolve(req);
    if (method === 'ACK') return;
    const answer = this.onRequest(req);
    if (!answer) return;
    for (const a of Array.isArray(answer) ? answer : [answer]) this.respond(req, a);
  }

  /** Sends a response to a received request; the To tag is stable per Call-ID (one dialog). */
  respond(req: SipRequestIn, answer: Answer): void {
    const headers = req.headers;
    const names: Record<string, string> = { via: 'Via', from: 'From', 'call-id': 'Call-ID', cseq: 'CSeq', 'record-route': 'Record-Route' };
    const copy = (n: string) => (headers.get(n) ?? []).map((v) => `${names[n]}: ${v}\r\n`).join('');
    const to = headers.get('to')?.[0] ?? '';
    const tag = createHash('md5').update(`${headers.get('call-id')?.[0] ?? ''}|${this.port}`).digest('hex').slice(0, 8);
    const res =
      `SIP/2.0 ${answer.status} ${answer.reason}\r\n` +
      copy('via') +
      copy('from') +
      `To: ${to}${to.includes('tag=') ? '' : `;tag=${tag}`}\r\n` +
      copy('call-id') +
      copy('cseq') +
      (answer.status >= 101 && answer.status < 300 && req.method !== 'CANCEL' ? copy('record-route') : '') +
      (answer.extra ?? []).map((x) => `${x}\r\n`).join('') +
      (answer.body ? `Content-Type: application/sdp\r\nContent-Length: ${Buffer.byteLength(answer.body)}\r\n\r\n${answer.body}` : 'Content-Length: 0\r\n\r\n');
    this.sendRaw(res);
  }
}
