// Parsers for the header values the stack needs: lists split on commas outside quotes
// and angle brackets, name-addr (From, To, Contact, Route), Via, CSeq, and digest
// credentials. Each throws SipParseError naming the header.
import { SipParseError } from './errors.js';
import { parseHostPort, parseUri, type SipUri } from './uri.js';

/** Splits a comma-separated header value, respecting "quoted strings" and <uris>. */
export function splitList(value: string): string[] {
  const out: string[] = [];
  let start = 0;
  let quoted = false;
  let angle = false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (quoted) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) quoted = false;
    } else if (c === 34) quoted = true;
    else if (c === 60 /* < */) angle = true;
    else if (c === 62 /* > */) angle = false;
    else if (c === 44 /* , */ && !angle) {
      out.push(value.slice(start, i).trim());
      start = i + 1;
    }
  }
  if (quoted) throw new SipParseError('unterminated quoted string');
  out.push(value.slice(start).trim());
  return out.filter((v) => v.length > 0);
}

/** RFC 3261 §25.1 `token` characters: alphanumerics and -.!%*_+`'~ (a table: this runs on every parameter of every message). */
const TOKEN_CHAR = new Uint8Array(128);
for (const c of 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`\'~') TOKEN_CHAR[c.charCodeAt(0)] = 1;

const isBlank = (c: number) => c === 32 || c === 9;

/** Parses `;a=1;b;c="x;y"` into a map (names lower-cased, quotes kept off values). */
export function parseParams(s: string, what: string): Map<string, string> {
  const params = new Map<string, string>();
  const n = s.length;
  let i = 0;
  while (i < n) {
    while (i < n && isBlank(s.charCodeAt(i))) i++;
    if (i >= n) break;
    if (s.charCodeAt(i) !== 59 /* ; */) throw new SipParseError(`${what}: expected ";" before parameter`);
    i++;
    while (i < n && isBlank(s.charCodeAt(i))) i++;
    const nameStart = i;
    for (let c = s.charCodeAt(i); i < n && c < 128 && TOKEN_CHAR[c] === 1; c = s.charCodeAt(++i));
    const name = s.slice(nameStart, i).toLowerCase();
    if (!name) throw new SipParseError(`${what}: parameter without a name`);
    while (i < n && isBlank(s.charCodeAt(i))) i++;
    let value = '';
    if (s.charCodeAt(i) === 61 /* = */) {
      i++;
      while (i < n && isBlank(s.charCodeAt(i))) i++;
      if (s.charCodeAt(i) === 34 /* " */) {
        const end = endOfQuoted(s, i);
        value = unquote(s.slice(i, end));
        i = end;
      } else {
        const vs = i;
        for (let c = s.charCodeAt(i); i < n && c !== 59 && !isBlank(c); c = s.charCodeAt(++i));
        value = s.slice(vs, i);
        if (!value) throw new SipParseError(`${what}: parameter "${name}" has an empty value`);
      }
    }
    params.set(name, value);
  }
  return params;
}

function endOfQuoted(s: string, start: number): number {
  for (let i = start + 1; i < s.length; i++) {
    if (s[i] === '\\') i++;
    else if (s[i] === '"') return i + 1;
  }
  throw new SipParseError('unterminated quoted string');
}

export function unquote(s: string): string {
  if (s.length < 2 || s.charCodeAt(0) !== 34 || s.charCodeAt(s.length - 1) !== 34) return s;
  const inner = s.slice(1, -1);
  return inner.includes('\\') ? inner.replace(/\\(.)/g, '$1') : inner;
}

export interface NameAddr {
  display: string | null;
  uri: SipUri;
  /** The URI text as written. */
  uriText: string;
  params: Map<string, string>;
}

/** name-addr or addr-spec with header parameters (RFC 3261 §20.10, §25.1). */
export function parseNameAddr(value: string, header: string): NameAddr {
  const v = value.trim();
  let display: string | null = null;
  let uriText: string;
  let rest: string;
  const lt = findAngle(v);
  if (lt >= 0) {
    const before = v.slice(0, lt).trim();
    if (before) {
      if (before.startsWith('"')) {
        const end = endOfQuoted(before, 0);
        if (before.slice(end).trim()) throw new SipParseError(`${header}: junk after the display name`);
        display = unquote(before);
      } else {
        if (!/^[A-Za-z0-9\-.!%*_+`'~ \t\x80-\xff]+$/.test(before)) throw new SipParseError(`${header}: invalid display name`);
        display = before;
      }
    }
    const gt = v.indexOf('>', lt);
    if (gt < 0) throw new SipParseError(`${header}: missing ">"`);
    uriText = v.slice(lt + 1, gt).trim();
    rest = v.slice(gt + 1);
  } else {
    // addr-spec: parameters after the URI belong to the header, not the URI.
    const semi = v.indexOf(';');
    uriText = (semi >= 0 ? v.slice(0, semi) : v).trim();
    rest = semi >= 0 ? v.slice(semi) : '';
    if (/[\s]/.test(uriText)) throw new SipParseError(`${header}: whitespace inside the URI`);
  }
  let uri: SipUri;
  try {
    uri = parseUri(uriText, `${header} URI`);
  } catch (err) {
    // 416 is for the Request-URI only (RFC 3261 §8.2.2.1); elsewhere a bad URI is a 400.
    if (err instanceof SipParseError && err.status === 416) throw new SipParseError(`${header}: ${err.message}`);
    throw err;
  }
  return { display, uri, uriText, params: parseParams(rest, header) };
}

function findAngle(v: string): number {
  let quoted = false;
  for (let i = 0; i < v.length; i++) {
    const c = v[i];
    if (quoted) {
      if (c === '\\') i++;
      else if (c === '"') quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === '<') return i;
  }
  return -1;
}

export interface Via {
  transport: string;
  host: string;
  port: number | null;
  params: Map<string, string>;
  branch: string | null;
}

/** One Via value: `SIP/2.0/UDP host:port;branch=…;rport`. */
export function parseVia(value: string): Via {
  const m = /^SIP\s*\/\s*2\.0\s*\/\s*([A-Za-z0-9\-.!%*_+`'~]+)\s+([^;\s]+(?:\s*:\s*\d+)?)\s*(.*)$/is.exec(value.trim());
  if (!m) throw new SipParseError('Via: malformed value');
  const { host, port } = parseHostPort(m[2]!.replace(/\s+/g, ''), 'Via sent-by');
  const params = parseParams(m[3]!, 'Via');
  return { transport: m[1]!.toUpperCase(), host, port, params, branch: params.get('branch') ?? null };
}

export interface CSeq {
  seq: number;
  method: string;
}

export function parseCSeq(value: string): CSeq {
  const m = /^(\d{1,10})\s+([A-Za-z0-9\-.!%*_+`'~]+)$/.exec(value.trim());
  if (!m) throw new SipParseError('CSeq: expected "<number> <METHOD>"');
  const seq = Number(m[1]);
  if (seq > 0x7fffffff) throw new SipParseError('CSeq: number larger than 2**31-1');
  return { seq, method: m[2]! };
}

export interface DigestCredentials {
  scheme: string;
  params: Map<string, string>;
}

/** `Digest username="…", realm="…", …` (RFC 7616 §3.4). */
export function parseCredentials(value: string): DigestCredentials {
  const v = value.trim();
  const sp = v.search(/\s/);
  if (sp < 0) throw new SipParseError('Authorization: missing parameters');
  const scheme = v.slice(0, sp);
  const params = new Map<string, string>();
  for (const part of splitList(v.slice(sp + 1))) {
    const eq = part.indexOf('=');
    if (eq < 0) throw new SipParseError('Authorization: parameter without "="');
    const name = part.slice(0, eq).trim().toLowerCase();
    if (params.has(name)) throw new SipParseError(`Authorization: duplicate parameter ${name}`);
    params.set(name, unquote(part.slice(eq + 1).trim()));
  }
  return { scheme, params };
}
