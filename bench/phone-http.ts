// One simulated phone's HTTP/1.1 connection for bench/storm.ts: its requests go one after
// another on one kept-alive socket, as a phone's provisioning client does, and a new socket
// is opened when the server closes one. Each phone has its own connection because real
// phones do: node:http's shared pool of kept-alive sockets sent a phone's first request on
// a connection another phone had opened, and hid the wait a new connection has (accept).
// node:net, because this is all a phone's fetch needs (measured: ~0.45 core for the whole
// storm, against ~0.5 with node:http).
import { connect, type Socket } from 'node:net';

export interface PhoneReply {
  status: number;
  wwwAuthenticate: string;
  retryAfter: number;
  /** When the request was written and how long until its whole reply arrived. */
  sentAt: number;
  ms: number;
}

interface Pending {
  resolve: (r: PhoneReply) => void;
  reject: (err: Error) => void;
  sentAt: number;
}

export class PhoneHttp {
  private socket: Socket | null = null;
  private received: Buffer | null = null;
  private pending: Pending | null = null;

  constructor(
    private readonly port: number,
    private readonly userAgent: string,
  ) {}

  get(path: string, authorization?: string): Promise<PhoneReply> {
    if (this.pending) return Promise.reject(new Error('a phone sends one request at a time'));
    const text = `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${this.port}\r\nUser-Agent: ${this.userAgent}\r\n${authorization ? `Authorization: ${authorization}\r\n` : ''}\r\n`;
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject, sentAt: performance.now() };
      this.open().write(text);
    });
  }

  close(): void {
    this.socket?.end();
    this.socket = null;
  }

  private open(): Socket {
    if (this.socket) return this.socket;
    const socket = connect(this.port, '127.0.0.1');
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    // A socket this phone already let go of (a reply said `Connection: close`) is not its concern.
    const lost = (err: Error) => this.socket === socket && this.fail(err);
    socket.on('error', lost);
    socket.on('close', () => lost(new Error('connection closed before the reply')));
    this.socket = socket;
    return socket;
  }

  private onData(chunk: Buffer): void {
    const buf = (this.received = this.received ? Buffer.concat([this.received, chunk]) : chunk);
    const headEnd = buf.indexOf('\r\n\r\n');
    if (headEnd < 0) return;
    const head = buf.toString('latin1', 0, headEnd);
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    // The pbx always sends Content-Length; anything else would be a change worth seeing.
    if (!length) return this.fail(new Error(`reply without Content-Length: ${head.slice(0, 40)}`));
    if (buf.length < headEnd + 4 + Number(length[1])) return;
    this.received = null;
    const pending = this.pending;
    this.pending = null;
    if (/\r\nconnection:\s*close/i.test(head)) this.close();
    pending?.resolve({
      status: Number(head.slice(9, 12)),
      wwwAuthenticate: /\r\nwww-authenticate:\s*([^\r]*)/i.exec(head)?.[1] ?? '',
      retryAfter: Number(/\r\nretry-after:\s*(\d+)/i.exec(head)?.[1] ?? 0),
      sentAt: pending.sentAt,
      ms: performance.now() - pending.sentAt,
    });
  }

  private fail(err: Error): void {
    const pending = this.pending;
    this.pending = null;
    this.received = null;
    this.socket?.destroy();
    this.socket = null;
    pending?.reject(err);
  }
}
