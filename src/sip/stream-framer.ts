// Cuts a TCP/TLS byte stream into SIP messages by Content-Length (RFC 3261 §18.3),
// and recognises the RFC 5626 §4.4.1 keep-alive: a double CRLF "ping" between
// messages (answered with a single CRLF "pong" by the caller).
import { SipParseError } from './errors.js';
import { headerEnd } from './parser.js';

export type Frame = Buffer | 'ping';

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
      const end = headerEnd(this.buf);
      if (!end) {
        if (this.buf.length > this.maxMessageBytes) throw new SipParseError('Headers exceed the maximum message size', 513);
        break;
      }
      const head = this.buf.toString('latin1', 0, end.end);
      const m = CONTENT_LENGTH.exec(head);
      if (!m) throw new SipParseError('Content-Length is required on stream transports');
      const total = end.bodyStart + Number(m[1]);
      if (total > this.maxMessageBytes) throw new SipParseError(`Message of ${total} bytes exceeds ${this.maxMessageBytes}`, 513);
      if (this.buf.length < total) break;
      frames.push(Buffer.from(this.buf.subarray(0, total)));
      this.buf = this.buf.subarray(total);
    }
    return frames;
  }
}
