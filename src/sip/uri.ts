// SIP, SIPS and tel URIs (RFC 3261 §19.1, RFC 3966). Strings are byte strings
// (latin1), as everywhere in the SIP layer, so nothing is lost on the way through.
import { SipParseError } from './errors.js';
import { detached } from '../util/detached.js';

/** Read-only: one parsed URI is shared by every message that carries the same text. */
export interface SipUri {
  readonly scheme: 'sip' | 'sips' | 'tel';
  /** User part, still %-escaped as received (compare with `unescape`d values). */
  readonly user: string | null;
  readonly password: string | null;
  /** Host without brackets for IPv6 (`::1`), lower-cased; the number for tel: URIs. */
  readonly host: string;
  readonly port: number | null;
  /** Parameters, names lower-cased; a parameter without value maps to ''. */
  readonly params: ReadonlyMap<string, string>;
  readonly headers: string | null;
}

const SCHEME = /^([a-zA-Z][a-zA-Z0-9+.-]*):/;
const HOSTNAME = /^[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9.])?$|^[a-zA-Z0-9]$/;
const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;
const IPV6 = /^[0-9a-fA-F:.]+$/;

/**
 * Parsed URIs by their text. The same few come in message after message (a phone's
 * address of record and contact, this server's Request-URI), and parsing them was the
 * largest single cost of a relayed call. Bounded like `hostPorts`.
 */
const parsedUris = new Map<string, SipUri>();

export function parseUri(raw: string, what = 'URI'): SipUri {
  const known = parsedUris.get(raw);
  if (known !== undefined) return known;
  // Parsed from a copy (detached), so neither the key nor the parts sliced from it keep
  // the whole message text alive.
  const own = detached(raw);
  const parsed = parseUriAnew(own, what);
  if (parsedUris.size >= 4096) parsedUris.clear();
  parsedUris.set(own, parsed);
  return parsed;
}

function parseUriAnew(raw: string, what: string): SipUri {
  const m = SCHEME.exec(raw);
  if (!m) throw new SipParseError(`${what} has no scheme`);
  const scheme = m[1]!.toLowerCase();
  const rest = raw.slice(m[0].length);
  if (scheme === 'tel') return parseTel(rest);
  if (scheme !== 'sip' && scheme !== 'sips') throw new SipParseError(`Unsupported URI scheme "${scheme}"`, 416);
  if (/[\s<>"]/.test(rest)) throw new SipParseError(`${what} contains whitespace or reserved characters`);

  let userinfo: string | null = null;
  let hostpart = rest;
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    userinfo = rest.slice(0, at);
    hostpart = rest.slice(at + 1);
  }
  let user: string | null = null;
  let password: string | null = null;
  if (userinfo !== null) {
    const colon = userinfo.indexOf(':');
    user = colon >= 0 ? userinfo.slice(0, colon) : userinfo;
    password = colon >= 0 ? userinfo.slice(colon + 1) : null;
    if (user === '') throw new SipParseError(`${what} has an empty user part`);
    checkEscapes(userinfo, what);
  }

  let headers: string | null = null;
  const q = hostpart.indexOf('?');
  if (q >= 0) {
    headers = hostpart.slice(q + 1);
    hostpart = hostpart.slice(0, q);
  }
  const params = new Map<string, string>();
  const semi = hostpart.indexOf(';');
  let hostport = hostpart;
  if (semi >= 0) {
    hostport = hostpart.slice(0, semi);
    for (const p of hostpart.slice(semi + 1).split(';')) {
      if (p === '') throw new SipParseError(`${what} has an empty parameter`);
      const eq = p.indexOf('=');
      const name = (eq >= 0 ? p.slice(0, eq) : p).toLowerCase();
      if (!name) throw new SipParseError(`${what} has a parameter without a name`);
      params.set(name, eq >= 0 ? p.slice(eq + 1) : '');
    }
  }
  const { host, port } = parseHostPort(hostport, what);
  return { scheme, user, password, host, port, params, headers };
}

function parseTel(rest: string): SipUri {
  const semi = rest.indexOf(';');
  const number = semi >= 0 ? rest.slice(0, semi) : rest;
  if (!/^\+?[0-9A-Fa-f*#().\-]+$/.test(number)) throw new SipParseError('tel URI has an invalid number');
  const params = new Map<string, string>();
  if (semi >= 0) {
    for (const p of rest.slice(semi + 1).split(';')) {
      const eq = p.indexOf('=');
      params.set((eq >= 0 ? p.slice(0, eq) : p).toLowerCase(), eq >= 0 ? p.slice(eq + 1) : '');
    }
  }
  return { scheme: 'tel', user: null, password: null, host: number, port: null, params, headers: null };
}

/** Parsed host:port texts: the same few (peers, this server) come in every message. */
const hostPorts = new Map<string, { readonly host: string; readonly port: number | null }>();

export function parseHostPort(hostport: string, what = 'host'): { readonly host: string; readonly port: number | null } {
  const known = hostPorts.get(hostport);
  if (known) return known;
  const own = detached(hostport);
  const parsed = parseHostPortAnew(own, what);
  if (hostPorts.size >= 4096) hostPorts.clear();
  hostPorts.set(own, parsed);
  return parsed;
}

function parseHostPortAnew(hostport: string, what: string): { host: string; port: number | null } {
  let host: string;
  let portText: string | undefined;
  if (hostport.startsWith('[')) {
    const close = hostport.indexOf(']');
    if (close < 0) throw new SipParseError(`${what} has an unterminated IPv6 reference`);
    host = hostport.slice(1, close);
    if (!IPV6.test(host) || !host.includes(':')) throw new SipParseError(`${what} has an invalid IPv6 reference`);
    const after = hostport.slice(close + 1);
    if (after) {
      if (!after.startsWith(':')) throw new SipParseError(`${what} has junk after the IPv6 reference`);
      portText = after.slice(1);
    }
  } else {
    const colon = hostport.indexOf(':');
    host = colon >= 0 ? hostport.slice(0, colon) : hostport;
    portText = colon >= 0 ? hostport.slice(colon + 1) : undefined;
    if (host.includes(':')) throw new SipParseError(`${what}: an IPv6 address must be in [brackets]`);
    if (!host || !(IPV4.test(host) || HOSTNAME.test(host))) throw new SipParseError(`${what} has an invalid host "${host}"`);
    if (IPV4.test(host) && host.split('.').some((o) => Number(o) > 255)) throw new SipParseError(`${what} has an invalid IPv4 address`);
  }
  let port: number | null = null;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535 || Number(portText) === 0) {
      throw new SipParseError(`${what} has an invalid port "${portText}"`);
    }
    port = Number(portText);
  }
  return { host: host.toLowerCase(), port };
}

function checkEscapes(s: string, what: string): void {
  for (let i = s.indexOf('%'); i >= 0; i = s.indexOf('%', i + 1)) {
    if (!/^[0-9a-fA-F]{2}$/.test(s.slice(i + 1, i + 3))) throw new SipParseError(`${what} has an invalid %-escape`);
  }
}

export function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
