// SIP transports (RFC 3261 §18, RFC 7118): UDP, TCP, TLS and WebSocket listeners,
// IPv4 and IPv6. Every received message carries the Flow it came on; answers and
// requests to a phone go back over that flow (source address and port for UDP, the
// same connection for streams), which is what makes phones behind NAT reachable.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer as createTcpServer, connect as tcpConnect, type Server as TcpServer, type Socket } from 'node:net';
import { createServer as createTlsServer, connect as tlsConnect, type ConnectionOptions, type TlsOptions } from 'node:tls';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { WebSocketServer, type WebSocket } from 'ws';
import { SipParseError } from './errors.js';
import { FramingError, StreamFramer } from './stream-framer.js';
import { parseMessage, SipMessageError, DEFAULT_LIMITS, type PartialRequest } from './parser.js';
import type { AnyMessage } from './message.js';
import { formatHost } from './uri.js';
import { literalLookup, unmapIPv4 } from '../util/net.js';

export type TransportKind = 'udp' | 'tcp' | 'tls' | 'ws' | 'wss';

export interface Flow {
  /** Stable identifier: `udp:<local>|<remote>` or `tcp#<n>` for a connection. */
  readonly id: string;
  readonly transport: TransportKind;
  readonly reliable: boolean;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  /** False when the flow is closed (a connection that went away). */
  send(data: Buffer): boolean;
  isOpen(): boolean;
}

export interface ListenSpec {
  transport: TransportKind;
  host: string;
  port: number;
  /** TLS/WSS credentials. */
  tls?: TlsOptions;
}

export interface TransportEvents {
  message(message: AnyMessage, flow: Flow): void;
  /** A message that could not be parsed; `error.request` is set when a 400 can be addressed. */
  parseError(error: SipMessageError, flow: Flow): void;
}

export interface TransportCounters {
  received: number;
  sent: number;
  dropped: number;
}

export type WireTrace = (direction: 'in' | 'out', flow: Flow, data: Buffer) => void;

/** What every flow shares with its Transports: counters and the optional wire trace. */
interface Wire {
  counters: TransportCounters;
  trace: WireTrace | null;
}

const UDP_MAX = 65_535;
const IDLE_STREAM_MS = 15 * 60_000;

export class Transports {
  private readonly wire: Wire = { counters: { received: 0, sent: 0, dropped: 0 }, trace: null };
  readonly counters: TransportCounters = this.wire.counters;

  /** Sees every message in and out (for `logging.level: trace`); null turns it off. */
  set trace(fn: WireTrace | null) {
    this.wire.trace = fn;
  }
  private readonly udp: UdpSocket[] = [];
  private readonly servers: (TcpServer | HttpServer)[] = [];
  private readonly wss: WebSocketServer[] = [];
  private readonly connections = new Map<string, ConnectionFlow>();
  /** Open client or server connections by `transport:address:port`, to reuse on send. */
  private readonly byRemote = new Map<string, StreamFlow>();
  private nextConn = 1;
  readonly bound: { transport: TransportKind; address: string; port: number }[] = [];

  constructor(private readonly events: TransportEvents) {}

  async listen(specs: ListenSpec[]): Promise<void> {
    for (const spec of specs) {
      if (spec.transport === 'udp') await this.listenUdp(spec);
      else if (spec.transport === 'tcp' || spec.transport === 'tls') await this.listenStream(spec);
      else await this.listenWs(spec);
    }
  }

  flow(id: string): Flow | undefined {
    return this.connections.get(id);
  }

  /**
   * A UDP flow to host:port, sent from the socket on `localPort` when given (a phone's
   * NAT only lets in packets from the address and port it registered to), else from
   * the first socket of the right family.
   */
  udpFlow(host: string, port: number, localPort?: number): Flow | undefined {
    const v6 = host.includes(':') && !host.startsWith('::ffff:');
    const socket =
      (localPort !== undefined ? this.udp.find((s) => this.local(s).port === localPort) : undefined) ??
      this.udp.find((s) => (this.local(s).family === 'IPv6') === v6 || this.local(s).address === '::') ??
      this.udp[0];
    return socket ? this.flowsOf(socket).get(host, port) : undefined;
  }

  isListening(spec: ListenSpec): boolean {
    return this.bound.some((b) => b.transport === spec.transport && b.port === spec.port && b.address === spec.host);
  }

  /** Opens (or reuses) a TCP/TLS connection to host:port. */
  async connect(transport: 'tcp' | 'tls', host: string, port: number, tls?: ConnectionOptions): Promise<Flow> {
    const existing = this.byRemote.get(`${transport}:${host}:${port}`);
    if (existing?.isOpen()) return existing;
    const socket: Socket = await new Promise((ok, fail) => {
      const s =
        transport === 'tls'
          ? tlsConnect({ host, port, rejectUnauthorized: false, ...tls }, () => ok(s))
          : tcpConnect({ host, port }, () => ok(s));
      s.once('error', fail);
    });
    return this.adoptStream(socket, transport);
  }

  async close(): Promise<void> {
    for (const s of this.udp) s.close();
    for (const c of this.connections.values()) c.destroy();
    for (const w of this.wss) w.close();
    await Promise.all(this.servers.map((s) => new Promise<void>((ok) => s.close(() => ok()))));
    this.udp.length = 0;
    this.udpFlows.clear();
    this.servers.length = 0;
  }

  private async listenUdp(spec: ListenSpec): Promise<void> {
    // '::' is dual-stack (IPv6 and IPv4); a specific IPv6 address is that address only.
    const socket = createSocket({ type: spec.host.includes(':') ? 'udp6' : 'udp4', ipv6Only: spec.host.includes(':') && spec.host !== '::', lookup: literalLookup });
    let flows: UdpFlows | undefined;
    socket.on('message', (buf, rinfo) => {
      this.counters.received++;
      // RFC 5626 keep-alive and stray CRLFs: ignore.
      if (buf.length <= 4 && buf.every((b) => b === 13 || b === 10)) return;
      flows ??= this.flowsOf(socket);
      this.deliver(buf, flows.get(rinfo.address, rinfo.port), false);
    });
    await new Promise<void>((ok, fail) => {
      socket.once('error', fail);
      socket.bind(spec.port, spec.host, () => {
        socket.off('error', fail);
        socket.on('error', () => this.counters.dropped++);
        ok();
      });
    });
    try {
      socket.setRecvBufferSize(8 * 1024 * 1024);
      socket.setSendBufferSize(8 * 1024 * 1024);
    } catch {
      /* kernel limits: keep defaults */
    }
    this.udp.push(socket);
    this.bound.push({ transport: 'udp', address: spec.host, port: socket.address().port });
  }

  /** socket.address() is a syscall; a bound socket's address never changes. */
  private readonly localOf = new WeakMap<UdpSocket, { address: string; port: number; family: string }>();

  private local(socket: UdpSocket): { address: string; port: number; family: string } {
    let local = this.localOf.get(socket);
    if (!local) {
      const a = socket.address();
      local = { address: a.address, port: a.port, family: a.family };
      this.localOf.set(socket, local);
    }
    return local;
  }

  private readonly udpFlows = new Map<UdpSocket, UdpFlows>();

  /** Made on the first datagram: a socket's own address is known once it is bound. */
  private flowsOf(socket: UdpSocket): UdpFlows {
    let flows = this.udpFlows.get(socket);
    if (!flows) {
      flows = new UdpFlows(socket, this.local(socket), this.wire);
      this.udpFlows.set(socket, flows);
    }
    return flows;
  }

  private async listenStream(spec: ListenSpec): Promise<void> {
    const server =
      spec.transport === 'tls'
        ? createTlsServer(spec.tls ?? {}, (s) => this.adoptStream(s, 'tls'))
        : createTcpServer((s) => this.adoptStream(s, 'tcp'));
    server.on('error', () => this.counters.dropped++);
    await new Promise<void>((ok, fail) => {
      server.once('error', fail);
      server.listen({ port: spec.port, host: spec.host, ipv6Only: spec.host.includes(':') && spec.host !== '::' }, () => {
        server.off('error', fail);
        ok();
      });
    });
    this.servers.push(server);
    this.bound.push({ transport: spec.transport, address: spec.host, port: (server.address() as { port: number }).port });
  }

  private adoptStream(socket: Socket, transport: 'tcp' | 'tls'): StreamFlow {
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 30_000);
    socket.setTimeout(IDLE_STREAM_MS, () => socket.destroy());
    const id = `${transport}#${this.nextConn++}`;
    const flow = new StreamFlow(id, transport, socket, this.wire);
    this.connections.set(id, flow);
    const remoteKey = `${transport}:${socket.remoteAddress}:${socket.remotePort}`;
    this.byRemote.set(remoteKey, flow);
    const framer = new StreamFramer(DEFAULT_LIMITS.maxMessageBytes);
    socket.on('data', (chunk) => {
      let frames;
      try {
        frames = framer.push(chunk);
      } catch (err) {
        // Framing lost (no Content-Length, oversized, not SIP): nothing after it can be trusted.
        this.counters.dropped++;
        const e = err as FramingError;
        if (e.tlsHandshake) this.onNotice?.(`TLS handshake received on the plain TCP SIP port ${socket.localPort}: the phone is set to TLS but pointed at the TCP port`, flow);
        // A message too large for us whose headers arrived: answer 513 (RFC 3261 §21.5.14), then close.
        this.events.parseError(new SipMessageError(e, e.head ? partialOf(e.head) : null), flow);
        socket.end();
        setTimeout(() => socket.destroy(), 1000).unref();
        return;
      }
      for (const frame of frames) {
        if (frame === 'ping') {
          flow.send(Buffer.from('\r\n'));
          continue;
        }
        this.counters.received++;
        this.deliver(frame, flow, true);
      }
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      this.connections.delete(id);
      if (this.byRemote.get(remoteKey) === flow) this.byRemote.delete(remoteKey);
    });
    return flow;
  }

  private async listenWs(spec: ListenSpec): Promise<void> {
    const secure = spec.transport === 'wss';
    const http = secure ? createHttpsServer(spec.tls ?? {}) : createHttpServer();
    http.on('request', (_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain' }).end('SIP over WebSocket: connect with subprotocol "sip"\n');
    });
    const wss = new WebSocketServer({
      server: http,
      maxPayload: DEFAULT_LIMITS.maxMessageBytes,
      handleProtocols: (protocols) => (protocols.has('sip') ? 'sip' : false),
    });
    wss.on('connection', (ws, req) => {
      const id = `${spec.transport}#${this.nextConn++}`;
      const flow = new WsFlow(id, secure ? 'wss' : 'ws', ws, req.socket, this.wire);
      this.connections.set(id, flow);
      ws.on('message', (data: Buffer, isBinary) => {
        this.counters.received++;
        const buf = Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer);
        if (!isBinary && buf.length <= 4 && buf.every((b) => b === 13 || b === 10)) return;
        this.deliver(buf, flow, false);
      });
      ws.on('close', () => this.connections.delete(id));
      ws.on('error', () => ws.terminate());
    });
    await new Promise<void>((ok, fail) => {
      http.once('error', fail);
      http.listen({ port: spec.port, host: spec.host }, () => {
        http.off('error', fail);
        ok();
      });
    });
    this.servers.push(http);
    this.wss.push(wss);
    this.bound.push({ transport: spec.transport, address: spec.host, port: (http.address() as { port: number }).port });
  }

  private deliver(buf: Buffer, flow: Flow, stream: boolean): void {
    if (this.admit && !this.admit(flow.remoteAddress)) {
      this.counters.dropped++;
      return;
    }
    this.wire.trace?.('in', flow, buf);
    let message: AnyMessage;
    try {
      message = parseMessage(buf, stream);
    } catch (err) {
      this.counters.dropped++;
      if (err instanceof SipMessageError) this.events.parseError(err, flow);
      return;
    }
    try {
      this.events.message(message, flow);
    } catch (err) {
      // Whatever a peer sent, it must not take the server down: count it and go on.
      this.counters.dropped++;
      this.onError?.(err as Error, flow);
    }
  }

  /** Told about a message whose handling threw (a bug, or a case nobody foresaw). */
  onError: ((err: Error, flow: Flow) => void) | null = null;
  /** Something an operator should hear of (a TLS phone pointed at the TCP port). */
  onNotice: ((message: string, flow: Flow) => void) | null = null;

  /** Asked before a packet is parsed: false drops it (a banned source costs a lookup). */
  admit: ((remoteAddress: string) => boolean) | null = null;
}

/** A flow over a connection (TCP, TLS, WebSocket): answers go down the same connection. */
abstract class ConnectionFlow implements Flow {
  readonly reliable = true;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;

  constructor(
    readonly id: string,
    readonly transport: TransportKind,
    socket: Socket,
    private readonly wire: Wire,
  ) {
    this.remoteAddress = unmapIPv4(socket.remoteAddress ?? '');
    this.remotePort = socket.remotePort ?? 0;
    this.localAddress = unmapIPv4(socket.localAddress ?? '');
    this.localPort = socket.localPort ?? 0;
  }

  send(data: Buffer): boolean {
    if (!this.isOpen()) return false;
    this.wire.counters.sent++;
    this.wire.trace?.('out', this, data);
    this.write(data);
    return true;
  }

  abstract isOpen(): boolean;
  abstract destroy(): void;
  protected abstract write(data: Buffer): void;
}

/** How many UDP sources a socket remembers; past it the cache starts over (a sender spoofing addresses only costs a new flow per datagram, as before the cache). */
const MAX_REMEMBERED_UDP_SOURCES = 16_384;

/**
 * The flows of one UDP socket, one per remote address and port. A datagram from a known
 * source reuses its flow (and the flow's id) instead of making both anew: under load that
 * was an object and a string per datagram, kept for as long as the transaction that
 * received it.
 */
class UdpFlows {
  private readonly byAddress = new Map<string, Map<number, UdpFlow>>();
  private size = 0;

  constructor(
    private readonly socket: UdpSocket,
    private readonly local: { address: string; port: number },
    private readonly wire: Wire,
  ) {}

  get(address: string, port: number): UdpFlow {
    const known = this.byAddress.get(address)?.get(port);
    if (known !== undefined) return known;
    if (this.size >= MAX_REMEMBERED_UDP_SOURCES) {
      this.byAddress.clear();
      this.size = 0;
    }
    let ports = this.byAddress.get(address);
    if (ports === undefined) {
      ports = new Map();
      this.byAddress.set(address, ports);
    }
    const flow = new UdpFlow(this.socket, this.local, address, port, this.wire);
    ports.set(port, flow);
    this.size++;
    return flow;
  }
}

/**
 * A UDP peer, one per source (UdpFlows), so one small object: methods on the prototype,
 * the id built only when asked for.
 */
class UdpFlow implements Flow {
  readonly transport = 'udp' as const;
  readonly reliable = false;
  private flowId: string | undefined;

  constructor(
    private readonly socket: UdpSocket,
    private readonly local: { address: string; port: number },
    readonly remoteAddress: string,
    readonly remotePort: number,
    private readonly wire: Wire,
  ) {}

  get id(): string {
    return (this.flowId ??= `udp:${this.local.port}|${formatHost(this.remoteAddress)}:${this.remotePort}`);
  }

  get localAddress(): string {
    return this.local.address;
  }

  get localPort(): number {
    return this.local.port;
  }

  send(data: Buffer): boolean {
    if (data.length > UDP_MAX) return false;
    this.wire.counters.sent++;
    this.wire.trace?.('out', this, data);
    this.socket.send(data, this.remotePort, this.remoteAddress);
    return true;
  }

  isOpen(): boolean {
    return true;
  }
}

class StreamFlow extends ConnectionFlow {
  constructor(id: string, transport: 'tcp' | 'tls', private readonly socket: Socket, wire: Wire) {
    super(id, transport, socket, wire);
  }

  protected write(data: Buffer): void {
    this.socket.write(data);
  }

  isOpen(): boolean {
    return !this.socket.destroyed && this.socket.writable;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

class WsFlow extends ConnectionFlow {
  constructor(id: string, transport: 'ws' | 'wss', private readonly ws: WebSocket, socket: Socket, wire: Wire) {
    super(id, transport, socket, wire);
  }

  /** RFC 7118: SIP messages go as text frames. */
  protected write(data: Buffer): void {
    this.ws.send(data.toString('utf8'));
  }

  isOpen(): boolean {
    return this.ws.readyState === this.ws.OPEN;
  }

  destroy(): void {
    this.ws.terminate();
  }
}

/** The server port a UDP flow id (`udp:<local port>|<remote>`) was received on. */
export function udpLocalPort(flowId: string): number | undefined {
  const m = /^udp:(\d+)\|/.exec(flowId);
  return m ? Number(m[1]) : undefined;
}

/** What a header section says of its request (method and headers), when it is one. */
function partialOf(head: Buffer): PartialRequest | null {
  try {
    const m = parseMessage(head, true);
    return 'method' in m ? { method: m.method, headers: m.headers } : null;
  } catch (err) {
    return err instanceof SipMessageError ? err.request : null;
  }
}
