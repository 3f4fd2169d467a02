// A read-only TFTP server: RFC 1350 (RRQ in octet and netascii mode, DATA/ACK in lock
// step, retransmission on timeout up to a retry limit, ERROR packets), RFC 2347 option
// negotiation (OACK), RFC 2348 blksize, RFC 2349 timeout and tsize. It knows nothing of
// phones: a provider callback answers each read request with a body or an error.
//
// Each transfer runs on its own ephemeral UDP socket (its TID, RFC 1350 §4); packets from
// any other address or port reaching it get ERROR 5 and do not disturb it. Requests that
// are refused (provider error, WRQ, bad mode, malformed) are answered from the listening
// socket, so a refusal costs no socket. Block numbers roll over from 65535 to 0 for files
// of more blocks (what tftpd-hpa and most clients do). Nothing a peer sends can throw.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { decode, dataPacket, errorPacket, oackPacket, toNetascii, ERR, type TftpRequest } from './packet.js';

export { ERR } from './packet.js';

export interface TftpRemote {
  address: string;
  port: number;
  family: string;
}

export type TftpFile =
  | { status: 'ok'; body: Buffer | string }
  /** Answer the request with this ERROR (code from ERR). */
  | { status: 'error'; code: number; message: string }
  /** Send nothing at all. */
  | { status: 'ignore' };

export type TftpFileProvider = (fileName: string, remote: TftpRemote) => TftpFile | Promise<TftpFile>;

export interface TftpServerOptions {
  provider: TftpFileProvider;
  /** Transfers at once, counting requests waiting for the provider; more RRQs are dropped (the client retries). */
  maxTransfers?: number;
  /** Of those, from one address (0 = no limit of its own); more are dropped the same way. */
  maxPerAddress?: number;
  /** The largest blksize granted (RFC 2348 allows 8–65464); the default fits one Ethernet frame. */
  maxBlockSize?: number;
  /** Retransmission interval when the client asks for none. */
  timeoutMs?: number;
  /** The largest RFC 2349 timeout granted (1–255 s); a larger one is not acknowledged. */
  maxTimeoutSeconds?: number;
  /** Retransmissions of one packet before the transfer is abandoned. */
  retries?: number;
  onEvent?: (event: TftpEvent) => void;
}

export type TftpEvent =
  | { type: 'complete'; remote: TftpRemote; fileName: string; bytes: number; blocks: number; blockSize: number; ms: number; retransmits: number }
  | { type: 'timeout'; remote: TftpRemote; fileName: string; block: number }
  | { type: 'aborted'; remote: TftpRemote; fileName: string; reason: string }
  | { type: 'refused'; remote: TftpRemote; fileName: string | null; code: number; message: string }
  | { type: 'malformed'; remote: TftpRemote; reason: string }
  | { type: 'busy'; remote: TftpRemote; fileName: string }
  | { type: 'error'; error: Error };

/** Largest blksize RFC 2348 allows. */
export const MAX_BLKSIZE = 65464;
/** 1500-byte Ethernet MTU minus IPv4 (20), UDP (8) and TFTP (4) headers. */
export const DEFAULT_MAX_BLKSIZE = 1468;

export class TftpServer {
  readonly stats = { requests: 0, completed: 0, timeouts: 0, aborted: 0, refused: 0, malformed: 0, busy: 0, retransmits: 0, bytes: 0 };
  private socket: Socket | null = null;
  private host = '';
  private readonly transfers = new Map<string, Transfer>();
  /** Remotes whose request waits for the provider (a retransmitted RRQ is not a new request). */
  private readonly pending = new Set<string>();
  /** Transfers and pending requests per remote address. */
  private readonly perAddress = new Map<string, number>();
  private readonly o: Required<Omit<TftpServerOptions, 'onEvent'>> & Pick<TftpServerOptions, 'onEvent'>;

  constructor(options: TftpServerOptions) {
    this.o = {
      maxTransfers: 100,
      maxPerAddress: 0,
      maxBlockSize: DEFAULT_MAX_BLKSIZE,
      timeoutMs: 1000,
      maxTimeoutSeconds: 255,
      retries: 5,
      ...options,
    };
    this.o.maxBlockSize = Math.max(8, Math.min(MAX_BLKSIZE, this.o.maxBlockSize));
  }

  /** Binds the listening socket (`::` listens on IPv6 and IPv4). */
  async listen(port: number, host = '0.0.0.0'): Promise<{ address: string; port: number }> {
    if (this.socket) throw new Error('TFTP server already listening');
    const socket = createSocket(isIPv6(host) ? 'udp6' : 'udp4');
    await new Promise<void>((ok, fail) => {
      socket.once('error', fail);
      socket.bind(port, host, () => {
        socket.off('error', fail);
        ok();
      });
    });
    socket.on('error', (error) => this.emit({ type: 'error', error }));
    socket.on('message', (msg, rinfo) => this.onRequest(socket, msg, rinfo));
    this.socket = socket;
    this.host = host;
    return this.address()!;
  }

  address(): { address: string; port: number } | null {
    if (!this.socket) return null;
    const a = this.socket.address();
    return { address: a.address, port: a.port };
  }

  /** Transfers in progress plus requests waiting for the provider. */
  get active(): number {
    return this.transfers.size + this.pending.size;
  }

  /** Stops listening and abandons every transfer. */
  async close(): Promise<void> {
    const socket = this.socket;
    this.socket = null;
    for (const t of this.transfers.values()) t.end();
    this.transfers.clear();
    this.perAddress.clear();
    if (socket) await new Promise<void>((ok) => socket.close(() => ok()));
  }

  private onRequest(socket: Socket, msg: Buffer, rinfo: RemoteInfo): void {
    if (rinfo.port === 0) return;
    const p = decode(msg);
    const remote = toRemote(rinfo);
    switch (p.op) {
      case 'rrq':
        this.stats.requests++;
        void this.read(socket, p, remote).catch((error: Error) => this.emit({ type: 'error', error }));
        return;
      case 'wrq':
        this.stats.requests++;
        this.refuse(socket, remote, p.fileName, ERR.ACCESS_VIOLATION, 'Access violation: this server is read-only');
        return;
      case 'error':
        return; // an ERROR is never answered (RFC 1350 §7)
      case 'malformed':
        this.stats.malformed++;
        this.emit({ type: 'malformed', remote, reason: p.reason });
        send(socket, errorPacket(ERR.ILLEGAL_OPERATION, `Illegal TFTP operation: ${p.reason}`), remote);
        return;
      default:
        // DATA, ACK or OACK on the request port: no transfer has this port as its TID.
        send(socket, errorPacket(ERR.UNKNOWN_TID, 'Unknown transfer ID: send a read request (RRQ) to this port'), remote);
    }
  }

  private async read(socket: Socket, p: TftpRequest, remote: TftpRemote): Promise<void> {
    const key = `${remote.address}|${remote.port}`;
    // The client sent its RRQ again before our first answer reached it: that transfer answers.
    if (this.pending.has(key)) return;
    const current = this.transfers.get(key);
    if (current) {
      if (!current.acknowledged) return;
      // It had acknowledged something, so this is a new request from the same port (a
      // restarted client, or a port reused at once): the old transfer is over.
      current.end();
      this.finished(current, 'aborted', 'the client sent a new request from the same port');
    }
    const mine = this.perAddress.get(remote.address) ?? 0;
    if (this.active >= this.o.maxTransfers || (this.o.maxPerAddress > 0 && mine >= this.o.maxPerAddress)) {
      this.stats.busy++;
      this.emit({ type: 'busy', remote, fileName: p.fileName });
      return;
    }
    if (p.mode !== 'octet' && p.mode !== 'netascii') {
      this.refuse(socket, remote, p.fileName, ERR.ILLEGAL_OPERATION, `Illegal TFTP operation: mode "${p.mode}" is not supported (octet or netascii)`);
      return;
    }
    this.pending.add(key);
    this.perAddress.set(remote.address, mine + 1);
    let file: TftpFile;
    try {
      file = await this.o.provider(p.fileName, remote);
    } catch (error) {
      this.emit({ type: 'error', error: error as Error });
      file = { status: 'error', code: ERR.UNDEFINED, message: 'Internal server error' };
    } finally {
      this.pending.delete(key);
    }
    if (this.socket !== socket || file.status !== 'ok') {
      this.release(remote.address);
      // A refusal is answered from this socket; `ignore`, or a server closed meanwhile, sends nothing.
      if (this.socket === socket && file.status === 'error') this.refuse(socket, remote, p.fileName, file.code, file.message);
      return;
    }
    let body = typeof file.body === 'string' ? Buffer.from(file.body, 'utf8') : file.body;
    if (p.mode === 'netascii') body = toNetascii(body);

    // RFC 2347: acknowledge the options we take, in the client's order; ignore the rest.
    const acked = new Map<string, string>();
    let blockSize = 512;
    let timeoutMs = this.o.timeoutMs;
    for (const [name, value] of p.options) {
      if (!/^\d{1,10}$/.test(value)) continue;
      const n = Number(value);
      if (name === 'blksize' && n >= 8) {
        blockSize = Math.min(n, this.o.maxBlockSize);
        acked.set(name, String(blockSize));
      } else if (name === 'timeout' && n >= 1 && n <= 255 && n <= this.o.maxTimeoutSeconds) {
        timeoutMs = n * 1000;
        acked.set(name, String(n));
      } else if (name === 'tsize') {
        acked.set(name, String(body.length));
      }
    }
    const transfer = new Transfer(this, key, remote, p.fileName, body, blockSize, timeoutMs, acked.size > 0 ? acked : null);
    this.transfers.set(key, transfer);
    transfer.open(this.host);
  }

  private refuse(socket: Socket, remote: TftpRemote, fileName: string | null, code: number, message: string): void {
    this.stats.refused++;
    this.emit({ type: 'refused', remote, fileName, code, message });
    send(socket, errorPacket(code, message), remote);
  }

  private release(address: string): void {
    const n = (this.perAddress.get(address) ?? 1) - 1;
    if (n > 0) this.perAddress.set(address, n);
    else this.perAddress.delete(address);
  }

  /** @internal */
  finished(t: Transfer, outcome: 'complete' | 'timeout' | 'aborted', reason?: string): void {
    if (this.transfers.get(t.key) === t) this.transfers.delete(t.key);
    this.release(t.remote.address);
    if (outcome === 'complete') {
      this.stats.completed++;
      this.stats.bytes += t.body.length;
      this.emit({
        type: 'complete', remote: t.remote, fileName: t.fileName, bytes: t.body.length, blocks: t.block,
        blockSize: t.blockSize, ms: Date.now() - t.startedAt, retransmits: t.retransmits,
      });
    } else if (outcome === 'timeout') {
      this.stats.timeouts++;
      this.emit({ type: 'timeout', remote: t.remote, fileName: t.fileName, block: t.block });
    } else {
      this.stats.aborted++;
      this.emit({ type: 'aborted', remote: t.remote, fileName: t.fileName, reason: reason ?? 'aborted' });
    }
  }

  /** @internal */
  get retries(): number {
    return this.o.retries;
  }

  /** @internal */
  emit(event: TftpEvent): void {
    if (!this.o.onEvent) return;
    try {
      this.o.onEvent(event);
    } catch {
      // a listener's bug must not break a transfer
    }
  }
}

/** One read transfer, on its own socket. */
class Transfer {
  /** Running block number of the packet in flight (0 = the OACK); sent modulo 65536. */
  block = 0;
  retransmits = 0;
  /** True once the client has acknowledged a packet. */
  acknowledged = false;
  readonly startedAt = Date.now();
  private socket: Socket | null = null;
  private last: Buffer = Buffer.alloc(0);
  private lastLength = 0;
  private tries = 0;
  private timer: NodeJS.Timeout | undefined;
  private ended = false;

  constructor(
    private readonly server: TftpServer,
    readonly key: string,
    readonly remote: TftpRemote,
    readonly fileName: string,
    readonly body: Buffer,
    readonly blockSize: number,
    private readonly timeoutMs: number,
    private readonly oack: Map<string, string> | null,
  ) {}

  open(host: string): void {
    const socket = createSocket(isIPv6(host) ? 'udp6' : 'udp4');
    this.socket = socket;
    socket.on('error', (error) => {
      this.server.emit({ type: 'error', error });
      this.finish('aborted', `socket error: ${error.message}`);
    });
    socket.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
    socket.bind(0, host, () => {
      if (this.ended) return;
      if (this.oack) this.transmit(oackPacket(this.oack));
      else this.sendBlock(1);
    });
  }

  /** Stops at once; `farewell` (an ERROR) is sent before the socket closes. */
  end(farewell?: Buffer): void {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.timer);
    const s = this.socket;
    this.socket = null;
    if (!s) return;
    const close = () => {
      try {
        s.close();
      } catch {
        // not bound yet or already closed
      }
    };
    // Closing a socket drops what it has not sent yet.
    if (farewell) {
      try {
        s.send(farewell, this.remote.port, this.remote.address, close);
      } catch {
        close();
      }
    } else close();
  }

  private onMessage(msg: Buffer, rinfo: RemoteInfo): void {
    if (this.ended || !this.socket) return;
    if (rinfo.address !== this.remote.address || rinfo.port !== this.remote.port) {
      // RFC 1350 §4: a packet from a foreign TID gets ERROR 5; the transfer goes on.
      if (rinfo.port !== 0 && !isError(msg)) send(this.socket, errorPacket(ERR.UNKNOWN_TID, 'Unknown transfer ID'), toRemote(rinfo));
      return;
    }
    const p = decode(msg);
    if (p.op === 'ack') {
      // A duplicate or stale ACK is ignored: answering it would double every later
      // packet (the Sorcerer's Apprentice bug, RFC 1123 §4.2.3.1).
      if (p.block !== (this.block & 0xffff)) return;
      this.acknowledged = true;
      if (this.block > 0 && this.lastLength < this.blockSize) this.finish('complete');
      else this.sendBlock(this.block + 1);
      return;
    }
    if (p.op === 'error') {
      this.finish('aborted', `client sent ERROR ${p.code}${p.message ? `: ${p.message}` : ''}`);
      return;
    }
    const reason = p.op === 'malformed' ? p.reason : `unexpected ${p.op.toUpperCase()} during a read transfer`;
    this.finish('aborted', reason, errorPacket(ERR.ILLEGAL_OPERATION, `Illegal TFTP operation: ${reason}`));
  }

  private sendBlock(n: number): void {
    const start = (n - 1) * this.blockSize;
    const data = this.body.subarray(start, start + this.blockSize);
    this.block = n;
    this.lastLength = data.length;
    this.tries = 0;
    this.transmit(dataPacket(n, data));
  }

  private transmit(packet: Buffer): void {
    this.last = packet;
    this.arm();
    send(this.socket!, packet, this.remote);
  }

  private arm(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.onTimeout(), this.timeoutMs);
  }

  private onTimeout(): void {
    if (this.ended || !this.socket) return;
    if (this.tries >= this.server.retries) {
      this.finish('timeout');
      return;
    }
    this.tries++;
    this.retransmits++;
    this.server.stats.retransmits++;
    this.arm();
    send(this.socket, this.last, this.remote);
  }

  private finish(outcome: 'complete' | 'timeout' | 'aborted', reason?: string, farewell?: Buffer): void {
    if (this.ended) return;
    this.end(farewell);
    this.server.finished(this, outcome, reason);
  }
}

function toRemote(rinfo: RemoteInfo): TftpRemote {
  return { address: rinfo.address, port: rinfo.port, family: rinfo.family };
}

function isError(msg: Buffer): boolean {
  return msg.length >= 2 && msg.readUInt16BE(0) === 5;
}

/** Fire and forget: a send that fails (unreachable peer) is what a retransmission is for. */
function send(socket: Socket, packet: Buffer, to: TftpRemote): void {
  try {
    socket.send(packet, to.port, to.address, () => {});
  } catch {
    // socket closed under us
  }
}
