// SIP edge defence, in the spirit of Kamailio's default config (pike + ipban): a source
// sending more than `max_requests` requests in `window_seconds` is banned for
// `ban_seconds`; so is one that fails authentication `max_auth_failures` times in a
// window, or announces itself as a known scanner. Banned sources are dropped before
// their packets are parsed. This server's own addresses and `allow` are never banned.
import { AddressList, hostAddresses } from '../util/net.js';
import type { SecurityLog } from '../security/security-log.js';

export interface FloodSettings {
  max_requests: number;
  window_seconds: number;
  max_auth_failures: number;
  ban_seconds: number;
  allow: string[];
}

/** User-Agents of SIP scanners (Kamailio's sample config drops the same). */
export const SCANNER_UA = /friendly-scanner|sipcli|sipvicious|vaxsipuseragent|pplsip|sip-scan|sundayddr|iWar|sipsak/i;

interface Window {
  start: number;
  requests: number;
  failures: number;
}

export class FloodGuard {
  private readonly banned = new Map<string, number>();
  private readonly windows = new Map<string, Window>();
  private readonly self = new Set<string>();
  private readonly allowList = new AddressList();
  readonly counters = { bans: 0, dropped: 0 };

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

  /** Counts a request; bans a source that floods. Returns false when it is now banned. */
  request(ip: string): boolean {
    if (this.exempt(ip)) return true;
    const w = this.window(ip);
    w.requests++;
    if (w.requests > this.settings().max_requests) return this.ban(ip, 'flood', w.requests);
    return true;
  }

  authFailure(ip: string): void {
    if (this.exempt(ip)) return;
    const w = this.window(ip);
    w.failures++;
    if (w.failures >= this.settings().max_auth_failures) this.ban(ip, 'auth-failures', w.failures);
  }

  scanner(ip: string, userAgent: string): void {
    if (this.exempt(ip)) return;
    this.ban(ip, 'scanner', 1, userAgent);
  }

  bans(): { ip: string; until: string }[] {
    const now = Date.now();
    return [...this.banned].filter(([, u]) => u > now).map(([ip, u]) => ({ ip, until: new Date(u).toISOString() }));
  }

  private ban(ip: string, reason: string, count: number, userAgent?: string): false {
    const s = this.settings();
    this.banned.set(ip, Date.now() + s.ban_seconds * 1000);
    this.windows.delete(ip);
    this.counters.bans++;
    this.securityLog.write('ban', {
      ip,
      service: 'sip',
      reason,
      count,
      window: `${s.window_seconds}s`,
      duration: `${s.ban_seconds}s`,
      ...(userAgent ? { user_agent: userAgent.slice(0, 64) } : {}),
    });
    return false;
  }

  private window(ip: string): Window {
    const now = Date.now();
    let w = this.windows.get(ip);
    if (!w || now - w.start > this.settings().window_seconds * 1000) {
      w = { start: now, requests: 0, failures: 0 };
      this.windows.set(ip, w);
      if (this.windows.size > 200_000) this.windows.clear();
    }
    return w;
  }

  private exempt(ip: string): boolean {
    return this.self.has(ip) || this.allowList.has(this.settings().allow, ip);
  }
}
