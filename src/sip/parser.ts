// RFC 3261 §7 message parser with hard limits, so a hostile packet costs little.
// It checks what every request needs before the stack may act on it (§8.2: start
// line, version, the mandatory headers, CSeq against the method, Content-Length);
// the other headers stay raw until asked for. Errors carry the status to answer.
import { SipParseError } from './errors.js';
import { parseCSeq } from './header-values.js';
import { SipRequest, SipResponse, type AnyMessage, type Header } from './message.js';

export interface ParseLimits {
  maxMessageBytes: number;
  maxHeaders: number;
  maxLineBytes: number;
}

export const DEFAULT_LIMITS: ParseLimits = { maxMessageBytes: 65_535, maxHeaders: 256, maxLineBytes: 16_384 };

const COMPACT: Record<string, string> = {
  a: 'accept-contact', b: 'referred-by', c: 'content-type', d: 'request-disposition', e: 'content-encoding',
  f: 'from', i: 'call-id', j: 'reject-contact', k: 'supported', l: 'content-length', m: 'contact',
  n: 'identity-info', o: 'event', r: 'refer-to', s: 'subject', t: 'to', u: 'allow-events', v: 'via',
  x: 'session-expires', y: 'identity',
};

const NO_BODY = Buffer.alloc(0);
const TOKEN = /^[A-Za-z0-9\-.!%*_+`'~]+$/;
const REQUIRED = ['via', 'from', 'to', 'call-id', 'cseq'] as const;

/** What the parser could learn of a message it refused: enough to address a 400. */
export interface PartialRequest {
  method: string;
  headers: Header[];
}

export class SipMessageError extends SipParseError {
  constructor(
    err: SipParseError,
    /** Set when the message was a request whose headers allow a response. */
    readonly request: PartialRequest | null,
  ) {
    super(err.message, err.status);
  }
}

/** Offset just past the blank line ending the headers, or -1. Tolerates bare LF. */
export function headerEnd(buf: Buffer, from = 0): { end: number; bodyStart: number } | null {
  const crlf = buf.indexOf('\r\n\r\n', from, 'latin1');
  const lf = buf.indexOf('\n\n', from, 'latin1');
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return { end: crlf, bodyStart: crlf + 4 };
  if (lf >= 0) return { end: lf, bodyStart: lf + 2 };
  return null;
}

/**
 * Parses one whole message. `stream` is true for TCP/TLS/WS, where Content-Length
 * is mandatory (§18.3) and the caller has already framed the bytes.
 */
export function parseMessage(buf: Buffer, stream = false, limits: ParseLimits = DEFAULT_LIMITS): AnyMessage {
  let partial: PartialRequest | null = null;
  try {
    if (buf.length > limits.maxMessageBytes) throw new SipParseError(`Message of ${buf.length} bytes exceeds ${limits.maxMessageBytes}`, 513);
    let start = 0;
    while (start < buf.length && (buf[start] === 13 || buf[start] === 10)) start++; // §7.5: skip leading CRLFs
    const hEnd = headerEnd(buf, start);
    if (!hEnd) throw new SipParseError('Missing empty line after the headers');
    const text = buf.toString('latin1', start, hEnd.end);
    let lineEnd = text.indexOf('\n');
    if (lineEnd < 0) lineEnd = text.length;
    const startLine = text.slice(0, lineEnd > 0 && text.charCodeAt(lineEnd - 1) === 13 ? lineEnd - 1 : lineEnd);
    if (startLine.length > limits.maxLineBytes) throw new SipParseError('Start line too long');

    // One pass over the header lines (it runs for every message): split, name, count.
    const headers: Header[] = [];
    const seen = { via: 0, from: 0, to: 0, 'call-id': 0, cseq: 0 };
    let pos = lineEnd + 1;
    while (pos <= text.length) {
      let next = text.indexOf('\n', pos);
      if (next < 0) next = text.length;
      const line = text.slice(pos, next > pos && text.charCodeAt(next - 1) === 13 ? next - 1 : next);
      pos = next + 1;
      if (line.length > limits.maxLineBytes) throw new SipParseError('Header line too long');
      if (line[0] === ' ' || line[0] === '\t') {
        const last = headers[headers.length - 1];
        if (!last) throw new SipParseError('Continuation line before any header');
        last.value = `${last.value} ${line.trim()}`.trim();
        continue;
      }
      const colon = line.indexOf(':');
      if (colon <= 0) throw new SipParseError(`Malformed header line "${clip(line)}"`);
      const name = headerName(line.slice(0, colon));
      headers.push({ name, value: line.slice(colon + 1).trim() });
      switch (name) {
        case 'via': case 'from': case 'to': case 'call-id': case 'cseq':
          seen[name]++;
      }
      if (headers.length > limits.maxHeaders) throw new SipParseError(`More than ${limits.maxHeaders} headers`);
    }

    const isResponse = startLine.startsWith('SIP/');
    let method = '';
    let uri = '';
    if (!isResponse) {
      // Method SP Request-URI SP SIP-Version; stray spaces at the ends are tolerated
      // (RFC 4475 §3.1.2.9-10 allow it), whitespace inside the URI is not (§3.1.2.8).
      const line = startLine.trim();
      const first = line.indexOf(' ');
      const last = line.lastIndexOf(' ');
      method = first > 0 ? line.slice(0, first) : line;
      if (!TOKEN.test(method)) throw new SipParseError('Malformed method in request line');
      partial = { method, headers };
      if (first < 0 || last === first) throw new SipParseError('Malformed request line');
      uri = line.slice(first + 1, last).trim();
      const version = line.slice(last + 1);
      if (/\s/.test(uri)) throw new SipParseError('Whitespace inside the Request-URI');
      if (!/^SIP\/\d+\.\d+$/i.test(version)) throw new SipParseError('Malformed SIP version in request line');
      if (version.toUpperCase() !== 'SIP/2.0') throw new SipParseError('Version Not Supported', 505);
    }
    for (const name of REQUIRED) {
      if (seen[name] === 0) throw new SipParseError(`Missing ${name === 'call-id' ? 'Call-ID' : name === 'cseq' ? 'CSeq' : name.replace(/^./, (c) => c.toUpperCase())} header`);
      if (seen[name] > 1 && name !== 'via') throw new SipParseError(`More than one ${name} header`);
    }
    const cseq = parseCSeq(headers.find((h) => h.name === 'cseq')!.value);

    const lengths = headers.filter((h) => h.name === 'content-length').map((h) => h.value);
    let length: number | null = null;
    if (lengths.length > 0) {
      if (new Set(lengths).size > 1) throw new SipParseError('Conflicting Content-Length headers');
      if (!/^\d{1,10}$/.test(lengths[0]!)) throw new SipParseError('Content-Length is not a number');
      length = Number(lengths[0]);
    } else if (stream) throw new SipParseError('Content-Length is required on stream transports');
    const available = buf.length - hEnd.bodyStart;
    if (length !== null && length > available) throw new SipParseError(`Content-Length ${length} is larger than the body (${available} bytes)`);
    const slice = buf.subarray(hEnd.bodyStart, hEnd.bodyStart + (length ?? available));
    // A copy, so the body does not keep the whole datagram alive; most messages have none.
    const body = slice.length ? Buffer.from(slice) : NO_BODY;

    if (isResponse) {
      const m = /^SIP\/2\.0 (\d{3})(?: (.*))?$/.exec(startLine);
      if (!m) throw new SipParseError('Malformed status line');
      const status = Number(m[1]);
      if (status < 100 || status > 699) throw new SipParseError('Status code out of range');
      const response = new SipResponse(status, m[2] ?? '', headers, body);
      response.from;
      response.to;
      response.vias;
      return response;
    }
    if (cseq.method !== method) throw new SipParseError('CSeq method does not match the request method');
    const request = new SipRequest(method, uri, headers, body);
    // Everything the stack routes on is checked now, so no later layer meets a bad value.
    request.from;
    request.to;
    request.vias;
    request.requestUri;
    request.contacts;
    return request;
  } catch (err) {
    if (!(err instanceof SipParseError)) throw err;
    throw new SipMessageError(err, partial);
  }
}

/** Header names as written → lower-case full names; they repeat in every message, so they are checked once. */
const NAMES = new Map<string, string>();

function headerName(raw: string): string {
  const known = NAMES.get(raw);
  if (known !== undefined) return known;
  const name = raw.trimEnd();
  if (!TOKEN.test(name)) throw new SipParseError(`Malformed header name "${clip(name)}"`);
  const lower = name.toLowerCase();
  const full = COMPACT[lower] ?? lower;
  // Bounded: a sender making up names cannot grow it without end.
  if (NAMES.size < 1000) NAMES.set(raw, full);
  return full;
}

function clip(s: string): string {
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}
