// SIP edge defence, in the spirit of Kamailio's default config (pike + ipban) and
// fail2ban: a source sending more than `max_requests` requests in `window_seconds` is
// banned for `ban_seconds`; a source failing authentication `max_auth_failures` times
// within `auth_window_seconds` (minutes to hours, so a slow guesser is caught too) is
// banned for `auth_ban_seconds`; guesses against one extension from anywhere are
// slowed down after `max_extension_auth_failures` in that window (only the addresses
// the extension's phones are registered from may still authenticate as it). Banned
// sources are dropped before their packets are parsed.
//
// A ban must rest on evidence a forger cannot produce with one spoofed datagram: an
// address where a phone holds a live authenticated registration is never banned for
// what arrives over UDP (a forged source), only for what a connection proves (TCP,
// TLS, WebSocket); a scanner User-Agent over UDP is dropped silently, and bans only
// after `scanner_packets` of them. This server's own addresses and `allow` are never banned.
import { AddressList, hostAddresses } from '../util/net.js';
import type { SecurityLog } from '../security/security-log.js';

export interface FloodSettings {
  max_requests: number;
  window_seconds: number;
  max_auth_failures: number;
  auth_window_seconds: number;
  auth_ban_seconds: number;
  max_extension_auth_failures: number;
  scanner_packets: number;
  ban_seconds: number;
  allow: string[];
}

/** User-Agents of SIP scanners (Kamailio's sample config drops the same). */
export const SCANNER_UA = /friendly-scanner|sipcli|sipvicious|vaxsipuseragent|pplsip|sip-scan|sundayddr|iWar|sipsak/i;

/** What the guard needs to know of registrations (answered by the location service). */
export interface Registrations {
  /** A phone holds a live authenticated registration from this address. */
  hasBindingFrom(ip: string): boolean;
  /** The extension has a live registration from this address. */
  isRegisteredFrom(extension: string, ip: string): boolean;
}

interface Window {
  start: number;
  requests: number;
  scanners: number;
}

interface Failures {
  start: number;
  count: number;
}

const NO_REGISTRATIONS: Registrations = { hasBindingFrom: () => false, isRegisteredFrom: () => false };

export class FloodGuard {
  private readonly banned = new Map<string, number>();
  private readonly windows = new Map<string, Window>();
  private readonly sourceFailures = new Map<string, Failures>();
  private readonly extensionFailures = new Map<string, Failures>();
  private readonly self = new Set<string>();
  private readonly allowList = new AddressList();
  readonly counters = { bans: 0, dropped: 0, throttled: 0 };
  registrations: Registrations = NO_REGISTRATIONS;
  /** Told of each ban made here (the other pbx nodes must drop the address too). */
  onBan: ((ip: string, until: number) => void) | null = null;

  constructor(
    private readonly settings: () => FloodSettings,
    private readonly securityLog: SecurityLog,
    ownAddresses: string[] = hostAddresses(),
  ) {
    for (const a of ownAddresses) this.self.add(a);
  }

  /** Called for every packet before parsing: false drops it. */
  admit(ip: string): boolean {
    const until = this.banned.get(ip);
    if (until !== undefined) {
      if (until > Date.now()) {
        this.counters.dropped++;
        return false;
      }
      this.banned.delete(ip);
    }
    return true;
  }

  /**
   * Counts a request; bans a source that floods. Returns false when the request is to be
   * dropped. Over UDP, an address with live registrations is not banned (its source may be forged).
   */
  request(ip: string, reliable = false): boolean {
    if (this.exempt(ip)) return true;
    const w = this.window(ip);
    w.requests++;
    if (w.requests <= this.settings().max_requests) return true;
    if (!reliable && this.registrations.hasBindingFrom(ip)) return true;
    return this.ban(ip, 'flood', w.requests, this.settings().ban_seconds);
  }

  /**
   * A failed authentication (a wrong password, an unknown user, a replay) from `ip` as
   * `extension`. Counted per source and per extension over `auth_window_seconds`.
   */
  authFailure(ip: string, extension?: string, reliable = false): void {
    const s = this.settings();
    if (extension) this.count(this.extensionFailures, extension, s.auth_window_seconds);
    if (this.exempt(ip)) return;
    const n = this.count(this.sourceFailures, ip, s.auth_window_seconds);
    if (n < s.max_auth_failures) return;
    // Phones registered from the address (an office behind one NAT with one misconfigured
    // phone, or a forged source): its failures slow the extension down, they do not cut the office off.
    if (!reliable && this.registrations.hasBindingFrom(ip)) return;
    this.sourceFailures.delete(ip);
    this.ban(ip, 'auth-failures', n, s.auth_ban_seconds);
  }

  /**
   * True when an attempt to authenticate as `extension` from `ip` must fail whatever the
   * password: the extension is being guessed at from many places, and `ip` is not where
   * one of its phones is registered from. The phone's own address keeps working.
   */
  guessing(extension: string, ip: string): boolean {
    const f = this.extensionFailures.get(extension);
    const s = this.settings();
    if (!f || f.count < s.max_extension_auth_failures || Date.now() - f.start > s.auth_window_seconds * 1000) return false;
    if (this.self.has(ip) || this.registrations.isRegisteredFrom(extension, ip)) return false;
    this.counters.throttled++;
    return true;
  }

  /**
   * A request with a scanner's User-Agent: never answered. Over a connection the source
   * is proven and banned at once; over UDP only after `scanner_packets` in the flood
   * window and never where a phone is registered from (one forged datagram must not cut a phone off).
   */
  scanner(ip: string, userAgent: string, reliable = false): void {
    if (this.exempt(ip)) return;
    if (reliable) {
      this.ban(ip, 'scanner', 1, this.settings().ban_seconds, userAgent);
      return;
    }
    const w = this.window(ip);
    w.scanners++;
    if (w.scanners < this.settings().scanner_packets || this.registrations.hasBindingFrom(ip)) return;
    this.ban(ip, 'scanner', w.scanners, this.settings().ban_seconds, userAgent);
  }

  bans(): { ip: string; until: string }[] {
    const now = Date.now();
    return [...this.banned].filter(([, u]) => u > now).map(([ip, u]) => ({ ip, until: new Date(u).toISOString() }));
  }

  /** A ban another node made (it logged it): held here too, except for this server's own and allowed addresses. */
  applyBan(ip: string, until: number): void {
    if (this.exempt(ip)) return;
    if ((this.banned.get(ip) ?? 0) < until) this.banned.set(ip, until);
  }

  private ban(ip: string, reason: string, count: number, seconds: number, userAgent?: string): false {
    const s = this.settings();
    const until = Date.now() + seconds * 1000;
    this.banned.set(ip, until);
    this.onBan?.(ip, until);
    this.windows.delete(ip);
    this.counters.bans++;
    this.securityLog.write('ban', {
      ip,
      service: 'sip',
      reason,
      count,
      window: `${reason === 'auth-failures' ? s.auth_window_seconds : s.window_seconds}s`,
      duration: `${seconds}s`,
      ...(userAgent ? { user_agent: userAgent.slice(0, 64) } : {}),
    });
    return false;
  }

  private window(ip: string): Window {
    const now = Date.now();
    let w = this.windows.get(ip);
    if (!w || now - w.start > this.settings().window_seconds * 1000) {
      w = { start: now, requests: 0, scanners: 0 };
      this.windows.set(ip, w);
      if (this.windows.size > 200_000) this.windows.clear();
    }
    return w;
  }

  /** Adds one to `key`'s count in a window of `seconds` (a fresh window once it has passed); returns the count. */
  private count(map: Map<string, Failures>, key: string, seconds: number): number {
    const now = Date.now();
    let f = map.get(key);
    if (!f || now - f.start > seconds * 1000) {
      f = { start: now, count: 0 };
      map.set(key, f);
      if (map.size > 100_000) map.clear();
    }
    return ++f.count;
  }

  private exempt(ip: string): boolean {
    return this.self.has(ip) || this.allowList.has(this.settings().allow, ip);
  }
}
