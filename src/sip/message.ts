// SIP requests and responses (RFC 3261 §7). Headers are kept in order as
// (lower-case name, value) pairs; the headers the stack routes on are parsed on first
// use and cached. Header text is a byte string (latin1) so bytes pass through intact.
import { SipParseError } from './errors.js';
import { parseCSeq, parseNameAddr, parseVia, splitList, type CSeq, type NameAddr, type Via } from './header-values.js';
import { parseUri, type SipUri } from './uri.js';
import { newTag } from './ids.js';

export interface Header {
  /** Lower-case full name (compact forms expanded). */
  name: string;
  value: string;
}

const CANONICAL: Record<string, string> = {
  'call-id': 'Call-ID',
  cseq: 'CSeq',
  'www-authenticate': 'WWW-Authenticate',
  'mime-version': 'MIME-Version',
  'rack': 'RAck',
  'rseq': 'RSeq',
};

const canonicalCache = new Map<string, string>();

/** `call-id` → `Call-ID`, `x-foo-bar` → `X-Foo-Bar` (memoised: it runs for every header sent). */
export function canonicalName(lower: string): string {
  let name = canonicalCache.get(lower);
  if (name === undefined) {
    name = CANONICAL[lower] ?? lower.replace(/(^|-)([a-z])/g, (_, d: string, c: string) => d + c.toUpperCase());
    if (canonicalCache.size < 1000) canonicalCache.set(lower, name);
  }
  return name;
}

/** Headers whose values may be comma-joined lists (RFC 3261 §7.3.1). */
const LIST_HEADERS = new Set([
  'via', 'contact', 'route', 'record-route', 'allow', 'supported', 'require', 'proxy-require',
  'unsupported', 'accept', 'accept-encoding', 'accept-language', 'allow-events', 'path', 'content-encoding',
]);

/** The headers the stack routes on, parsed on first use (one object, no closures: it is made for every message). */
class Parsed {
  callId: string | undefined = undefined;
  cseq: CSeq | undefined = undefined;
  from: NameAddr | undefined = undefined;
  to: NameAddr | undefined = undefined;
  vias: Via[] | undefined = undefined;
  contacts: NameAddr[] | '*' | undefined = undefined;
  routes: NameAddr[] | undefined = undefined;
  recordRoutes: NameAddr[] | undefined = undefined;

  /** Forgets what was parsed from header `name` (it changed). */
  forget(name: string): void {
    switch (name) {
      case 'call-id': this.callId = undefined; break;
      case 'cseq': this.cseq = undefined; break;
      case 'from': this.from = undefined; break;
      case 'to': this.to = undefined; break;
      case 'via': this.vias = undefined; break;
      case 'contact': this.contacts = undefined; break;
      case 'route': this.routes = undefined; break;
      case 'record-route': this.recordRoutes = undefined; break;
    }
  }
}

export abstract class SipMessage {
  body: Buffer;
  private readonly parsed = new Parsed();

  constructor(
    public headers: Header[],
    body: Buffer,
  ) {
    this.body = body;
  }

  abstract readonly isRequest: boolean;

  get(name: string): string | undefined {
    for (const h of this.headers) if (h.name === name) return h.value;
    return undefined;
  }

  /** Every value of a header; list headers are split on commas. */
  getAll(name: string): string[] {
    const out: string[] = [];
    for (const h of this.headers) {
      if (h.name !== name) continue;
      if (LIST_HEADERS.has(name)) out.push(...splitList(h.value));
      else out.push(h.value);
    }
    return out;
  }

  has(name: string): boolean {
    return this.headers.some((h) => h.name === name);
  }

  set(name: string, value: string): void {
    this.invalidate(name);
    const i = this.headers.findIndex((h) => h.name === name);
    if (i >= 0) {
      this.headers[i] = { name, value };
      this.headers = this.headers.filter((h, j) => j <= i || h.name !== name);
    } else this.headers.push({ name, value });
  }

  /** Replaces the header line at `index` (from `headers`), keeping every other line. */
  replaceAt(index: number, value: string): void {
    const h = this.headers[index];
    if (!h) return;
    this.invalidate(h.name);
    this.headers[index] = { name: h.name, value };
  }

  /**
   * Replaces the top Via value with `text`, which says what `via` says: the stack's
   * received/rport stamp (RFC 3581). The Vias already parsed stay, with `via` on top,
   * instead of being parsed again from the new text.
   */
  replaceTopVia(text: string, via: Via): void {
    const i = this.headers.findIndex((h) => h.name === 'via');
    if (i < 0) return;
    const value = this.headers[i]!.value;
    const comma = value.indexOf(',');
    // One value per line is the rule in practice; a list is split (its commas may be quoted).
    const rest = comma < 0 ? '' : splitList(value).slice(1).join(', ');
    this.headers[i] = { name: 'via', value: rest ? `${text}, ${rest}` : text };
    const parsed = this.parsed.vias;
    if (parsed) parsed[0] = via;
  }

  remove(name: string): void {
    this.invalidate(name);
    this.headers = this.headers.filter((h) => h.name !== name);
  }

  /** Adds a header before all others of the same name (Via, Record-Route). */
  prepend(name: string, value: string): void {
    this.invalidate(name);
    const i = this.headers.findIndex((h) => h.name === name);
    this.headers.splice(i >= 0 ? i : this.headers.length, 0, { name, value });
  }

  /** Removes the first value of a list header (the top Via, the top Route). */
  removeFirstValue(name: string): void {
    this.invalidate(name);
    const i = this.headers.findIndex((h) => h.name === name);
    if (i < 0) return;
    const values = splitList(this.headers[i]!.value);
    if (values.length <= 1) this.headers.splice(i, 1);
    else this.headers[i] = { name, value: values.slice(1).join(', ') };
  }

  private invalidate(name: string): void {
    this.parsed.forget(name);
  }

  get callId(): string {
    if (this.parsed.callId === undefined) {
      const v = this.get('call-id');
      if (!v) throw new SipParseError('Missing Call-ID header');
      this.parsed.callId = v;
    }
    return this.parsed.callId;
  }

  get cseq(): CSeq {
    if (this.parsed.cseq === undefined) {
      const v = this.get('cseq');
      if (!v) throw new SipParseError('Missing CSeq header');
      this.parsed.cseq = parseCSeq(v);
    }
    return this.parsed.cseq;
  }

  get from(): NameAddr {
    if (this.parsed.from === undefined) {
      const v = this.get('from');
      if (!v) throw new SipParseError('Missing From header');
      this.parsed.from = parseNameAddr(v, 'From');
    }
    return this.parsed.from;
  }

  get to(): NameAddr {
    if (this.parsed.to === undefined) {
      const v = this.get('to');
      if (!v) throw new SipParseError('Missing To header');
      this.parsed.to = parseNameAddr(v, 'To');
    }
    return this.parsed.to;
  }

  get vias(): Via[] {
    return (this.parsed.vias ??= this.getAll('via').map(parseVia));
  }

  get topVia(): Via {
    const v = this.vias[0];
    if (!v) throw new SipParseError('Missing Via header');
    return v;
  }

  get contacts(): NameAddr[] | '*' {
    if (this.parsed.contacts === undefined) {
      const values = this.getAll('contact');
      this.parsed.contacts = values.length === 1 && values[0] === '*' ? '*' : values.map((v) => parseNameAddr(v, 'Contact'));
    }
    return this.parsed.contacts;
  }

  get routes(): NameAddr[] {
    return (this.parsed.routes ??= this.getAll('route').map((v) => parseNameAddr(v, 'Route')));
  }

  get recordRoutes(): NameAddr[] {
    return (this.parsed.recordRoutes ??= this.getAll('record-route').map((v) => parseNameAddr(v, 'Record-Route')));
  }

  /** The Expires header as seconds, or null when absent. */
  get expires(): number | null {
    const v = this.get('expires');
    if (v === undefined) return null;
    if (!/^\s*\d+\s*$/.test(v)) throw new SipParseError('Expires: expected a number of seconds');
    return Math.min(Number(v), 2 ** 32 - 1);
  }

  protected headerBytes(startLine: string): string {
    let s = startLine + '\r\n';
    for (const h of this.headers) {
      if (h.name === 'content-length') continue;
      s += `${canonicalName(h.name)}: ${h.value}\r\n`;
    }
    s += `Content-Length: ${this.body.length}\r\n\r\n`;
    return s;
  }

  /**
   * The message as sent, one latin1 character per byte (the body's bytes too). What a
   * transaction keeps to send again is this string, not a Buffer: a small Buffer is a slice
   * of an 8 KB pool slab in malloc's heap and keeps the whole slab alive, so responses kept
   * 32 s each (Timer J) left that heap fragmented for good after a burst (docs/PERFORMANCE.md);
   * a string lives in V8's heap, which compacts.
   */
  abstract serialize(): string;

  toBuffer(): Buffer {
    return Buffer.from(this.serialize(), 'latin1');
  }
}

export class SipRequest extends SipMessage {
  readonly isRequest = true;
  private parsedUri: SipUri | undefined;

  constructor(
    public method: string,
    private uriText: string,
    headers: Header[],
    body: Buffer = Buffer.alloc(0),
  ) {
    super(headers, body);
  }

  get uri(): string {
    return this.uriText;
  }

  set uri(value: string) {
    this.uriText = value;
    this.parsedUri = undefined;
  }

  /** The Request-URI, parsed (throws SipParseError 416 for unsupported schemes). */
  get requestUri(): SipUri {
    this.parsedUri ??= parseUri(this.uriText, 'Request-URI');
    return this.parsedUri;
  }

  serialize(): string {
    const head = this.headerBytes(`${this.method} ${this.uriText} SIP/2.0`);
    return this.body.length ? head + this.body.toString('latin1') : head;
  }
}

export class SipResponse extends SipMessage {
  readonly isRequest = false;

  constructor(
    public status: number,
    public reason: string,
    headers: Header[],
    body: Buffer = Buffer.alloc(0),
  ) {
    super(headers, body);
  }

  serialize(): string {
    const head = this.headerBytes(`SIP/2.0 ${this.status} ${this.reason}`);
    return this.body.length ? head + this.body.toString('latin1') : head;
  }
}

export type AnyMessage = SipRequest | SipResponse;

export const REASONS: Record<number, string> = {
  100: 'Trying', 180: 'Ringing', 181: 'Call Is Being Forwarded', 182: 'Queued', 183: 'Session Progress',
  200: 'OK', 202: 'Accepted', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found',
  405: 'Method Not Allowed', 407: 'Proxy Authentication Required', 408: 'Request Timeout', 413: 'Request Entity Too Large',
  415: 'Unsupported Media Type', 416: 'Unsupported URI Scheme', 420: 'Bad Extension', 423: 'Interval Too Brief',
  480: 'Temporarily Unavailable', 481: 'Call/Transaction Does Not Exist', 482: 'Loop Detected', 483: 'Too Many Hops',
  484: 'Address Incomplete', 486: 'Busy Here', 487: 'Request Terminated', 488: 'Not Acceptable Here', 491: 'Request Pending',
  500: 'Server Internal Error', 501: 'Not Implemented', 503: 'Service Unavailable', 504: 'Server Time-out',
  505: 'Version Not Supported', 513: 'Message Too Large', 600: 'Busy Everywhere', 603: 'Decline',
};

/**
 * A response to `req` (RFC 3261 §8.2.6): Via, From, To, Call-ID and CSeq copied.
 * §8.2.6.2: "If the request did not have a tag in the To header field, the UAS MUST add
 * a tag" (100 Trying aside): `toTag` when given (a dialog's own tag), else a fresh one.
 */
export function makeResponse(req: SipRequest, status: number, reason?: string, toTag?: string, extra: Header[] = []): SipResponse {
  const headers: Header[] = [];
  for (const h of req.headers) {
    if (h.name === 'via' || h.name === 'from' || h.name === 'call-id' || h.name === 'cseq') headers.push(h);
    else if (h.name === 'to') {
      const hasTag = /;\s*tag\s*=/i.test(h.value);
      headers.push(!hasTag && status > 100 ? { name: 'to', value: `${h.value};tag=${toTag ?? newTag()}` } : h);
    }
  }
  if (status === 100 && req.has('timestamp')) headers.push({ name: 'timestamp', value: req.get('timestamp')! });
  headers.push(...extra);
  return new SipResponse(status, reason ?? REASONS[status] ?? 'Unknown', headers);
}
