// Passing datagrams between processes that read one shared UDP socket. The kernel hands
// each datagram to whichever process reads first; one that belongs to another process
// (its transaction, its nonce) is passed there over loopback with the peer's address in
// front, and handled there as if it had arrived on the shared socket. A relay socket
// only accepts envelopes that carry the token the processes were started with: another
// local user cannot inject a datagram with a forged source. Knows SIP only enough to
// peek at a request's method and Call-ID without parsing the message.
import { createSocket, type Socket } from 'node:dgram';
import { timingSafeEqual } from 'node:crypto';
import { literalLookup } from './transport.js';

export const RELAY_TOKEN_BYTES = 16;

export interface Relayed {
  address: string;
  port: number;
  /** The shared socket's port it arrived on. */
  localPort: number;
  datagram: Buffer;
}

/**
 * Envelope: token, the peer's port and the shared socket's port (2 bytes each), the
 * address's length (1 byte) and text, then the datagram as received.
 */
export class DatagramRelay {
  private readonly socket: Socket = createSocket({ type: 'udp4', lookup: literalLookup });
  private readonly token: Buffer;
  onDatagram: ((d: Relayed) => void) | null = null;
  /** Envelopes refused (wrong token, cut short). */
  refused = 0;

  constructor(token: Buffer) {
    if (token.length !== RELAY_TOKEN_BYTES) throw new Error(`a relay token is ${RELAY_TOKEN_BYTES} bytes`);
    this.token = token;
    this.socket.on('message', (buf) => {
      const d = this.unwrap(buf);
      if (d) this.onDatagram?.(d);
      else this.refused++;
    });
    this.socket.on('error', () => this.refused++);
  }

  /** Binds the relay socket on loopback; resolves its port. */
  async bind(): Promise<number> {
    await new Promise<void>((ok, fail) => {
      this.socket.once('error', fail);
      this.socket.bind(0, '127.0.0.1', () => {
        this.socket.off('error', fail);
        ok();
      });
    });
    try {
      this.socket.setRecvBufferSize(8 * 1024 * 1024);
    } catch {
      /* kernel limits: keep the default */
    }
    return this.socket.address().port;
  }

  /** Passes a datagram from address:port (received on the shared socket's localPort) to the relay on `to`. */
  pass(to: number, address: string, port: number, localPort: number, datagram: Buffer): void {
    const head = RELAY_TOKEN_BYTES + 5;
    const addr = Buffer.from(address, 'latin1');
    const out = Buffer.allocUnsafe(head + addr.length + datagram.length);
    this.token.copy(out, 0);
    out.writeUInt16BE(port, RELAY_TOKEN_BYTES);
    out.writeUInt16BE(localPort, RELAY_TOKEN_BYTES + 2);
    out[RELAY_TOKEN_BYTES + 4] = addr.length;
    addr.copy(out, head);
    datagram.copy(out, head + addr.length);
    this.socket.send(out, to, '127.0.0.1');
  }

  close(): void {
    try {
      this.socket.close();
    } catch {
      /* already closed */
    }
  }

  private unwrap(buf: Buffer): Relayed | null {
    const head = RELAY_TOKEN_BYTES + 5;
    if (buf.length <= head || !timingSafeEqual(buf.subarray(0, RELAY_TOKEN_BYTES), this.token)) return null;
    const len = buf[RELAY_TOKEN_BYTES + 4]!;
    if (buf.length <= head + len) return null;
    return {
      port: buf.readUInt16BE(RELAY_TOKEN_BYTES),
      localPort: buf.readUInt16BE(RELAY_TOKEN_BYTES + 2),
      address: buf.toString('latin1', head, head + len),
      datagram: buf.subarray(head + len),
    };
  }
}

/** True when the datagram is a request with this method (its start line begins `METHOD `). */
export function isRequestFor(buf: Buffer, method: string): boolean {
  if (buf.length <= method.length) return false;
  for (let i = 0; i < method.length; i++) if (buf[i] !== method.charCodeAt(i)) return false;
  return buf[method.length] === 0x20;
}

/** A 32-bit hash (FNV-1a, mixed) of a peer's address and port. */
export function sourceHash(address: string, port: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < address.length; i++) h = Math.imul(h ^ address.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ (port & 0xff), 0x01000193);
  h = Math.imul(h ^ (port >>> 8), 0x01000193);
  return mix(h);
}

/**
 * MurmurHash3's finalizer: FNV-1a's low bits are the XOR of the input's low bits (the
 * prime is odd), so `hash % 2` alone would send every port of one parity to one process.
 */
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const LF = 0x0a;
const CR = 0x0d;
const COLON = 0x3a;

/**
 * A 32-bit hash (FNV-1a, mixed) of the Call-ID's value (`Call-ID:` or its compact form `i:`, any
 * case), or -1 when the header section has none. Reads the bytes in place: nothing is
 * allocated for a datagram that is only steered.
 */
export function callIdHash(buf: Buffer): number {
  let line = 0;
  const end = buf.length;
  while (line < end) {
    let eol = buf.indexOf(LF, line);
    if (eol < 0) eol = end;
    const lineEnd = eol > line && buf[eol - 1] === CR ? eol - 1 : eol;
    if (lineEnd === line) return -1; // the blank line: the headers ended without one
    const value = headerValueStart(buf, line, lineEnd);
    if (value >= 0) {
      let v = value;
      let e = lineEnd;
      while (v < e && (buf[v] === 0x20 || buf[v] === 0x09)) v++;
      while (e > v && (buf[e - 1] === 0x20 || buf[e - 1] === 0x09)) e--;
      let h = 0x811c9dc5;
      for (let i = v; i < e; i++) h = Math.imul(h ^ buf[i]!, 0x01000193);
      return mix(h);
    }
    line = eol + 1;
  }
  return -1;
}

/** Where the value starts when the line is a Call-ID header, else -1. */
function headerValueStart(buf: Buffer, start: number, end: number): number {
  const c = buf[start]! | 0x20;
  let i: number;
  if (c === 0x69 /* i */) i = start + 1;
  else if (c === 0x63 /* c */ && end - start > 7 && matchesLower(buf, start + 1, 'all-id')) i = start + 7;
  else return -1;
  while (i < end && (buf[i] === 0x20 || buf[i] === 0x09)) i++;
  return i < end && buf[i] === COLON ? i + 1 : -1;
}

function matchesLower(buf: Buffer, at: number, text: string): boolean {
  for (let k = 0; k < text.length; k++) if ((buf[at + k]! | 0x20) !== (text.charCodeAt(k) | 0x20)) return false;
  return true;
}
