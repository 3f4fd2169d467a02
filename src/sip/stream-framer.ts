// Cuts a TCP/TLS byte stream into SIP messages by Content-Length (RFC 3261 §18.3),
// and recognises the RFC 5626 §4.4.1 keep-alive: a double CRLF "ping" between
// messages (answered with a single CRLF "pong" by the caller).
import { SipParseError } from './errors.js';
import { headerEnd } from './parser.js';

export type Frame = Buffer | 'ping';

/**
 * The stream cannot go on. `head` holds a complete header section when there is one
 * (a message too large for us): enough to answer 513 before closing.
 */
export class FramingError extends SipParseError {
  constructor(
    message: string,
    status: 400 | 513,
    readonly head: Buffer | null = null,
    /** The peer speaks TLS to a plain TCP port (a ClientHello: content type 22, version 3.x). */
    readonly tlsHandshake = false,
  ) {
    super(message, status);
  }
}

const CONTENT_LENGTH = /^(?:content-length|l)[ \t]*:[ \t]*(\d+)[ \t]*$/im;

export class StreamFramer {
  private buf: Buffer = Buffer.alloc(0);

  constructor(private readonly maxMessageBytes: number) {}

  push(chunk: Buffer): Frame[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const frames: Frame[] = [];
    for (;;) {
      let start = 0;
      while (start < this.buf.length && (this.buf[start] === 13 || this.buf[start] === 10)) start++;
      if (start > 0) {
        if (start >= 4 && this.buf.subarray(0, 4).toString('latin1') === '\r\n\r\n') frames.push('ping');
        this.buf = this.buf.subarray(start);
      }
      if (this.buf.length === 0) break;
      const first = this.buf[0]!;
      // A message starts with a method or "SIP/2.0": printable text. A TLS ClientHello
      // (0x16 0x03) or other binary would otherwise wait for a header end that never comes.
      if (first === 0x16 && (this.buf.length < 2 || this.buf[1] === 0x03)) {
        throw new FramingError('A TLS handshake on a plain TCP SIP port', 400, null, true);
      }
      if (first < 0x21 || first > 0x7e) throw new FramingError(`Not SIP: the stream starts with byte 0x${first.toString(16).padStart(2, '0')}`, 400);
      const end = headerEnd(this.buf);
      if (!end) {
        if (this.buf.length > this.maxMessageBytes) throw new FramingError('Headers exceed the maximum message size', 513);
        break;
      }
      const head = this.buf.toString('latin1', 0, end.end);
      const m = CONTENT_LENGTH.exec(head);
      if (!m) throw new FramingError('Content-Length is required on stream transports', 400);
      const total = end.bodyStart + Number(m[1]);
      if (total > this.maxMessageBytes) throw new FramingError(`Message of ${total} bytes exceeds ${this.maxMessageBytes}`, 513, Buffer.from(this.buf.subarray(0, end.bodyStart)));
      if (this.buf.length < total) break;
      frames.push(Buffer.from(this.buf.subarray(0, total)));
      this.buf = this.buf.subarray(total);
    }
    return frames;
  }
}
