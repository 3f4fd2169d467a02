// Enumeration defence for provisioning. A scanner walks MAC addresses (a vendor prefix
// plus 24 bits) hoping to hit a phone's file, or guesses a known phone's credential; a
// real phone asks for its own MAC again and again with the credential its file gave it.
// So an address with more than `max_misses` misses (different unknown MACs, failed
// authentications) within `window_seconds` is banned for `ban_seconds`; addresses in
// `allow` (a building full of new phones behind one NAT) never are. A banned request
// costs one map lookup. Every ban goes to the security log.
import { AddressList } from '../util/net.js';
import type { SecurityLog } from '../security/security-log.js';

export interface GuardSettings {
  max_misses: number;
  window_seconds: number;
  ban_seconds: number;
  allow: string[];
}

interface Strikes {
  /** Distinct unknown MACs asked for (the same one again is no new miss). */
  macs: Set<string>;
  /** Failed authentications: every one is a miss. */
  failures: number;
  since: number;
}

export class ProvisioningGuard {
  private readonly banned = new Map<string, number>();
  private readonly strikes = new Map<string, Strikes>();
  private readonly allowList = new AddressList();
  readonly counters = { bans: 0, refused: 0 };
  /**
   * Told of each ban this process holds: made here (`local`), or learnt from another node.
   * HTTP worker processes must refuse the address either way; other nodes hear of local ones.
   */
  onBan: ((ip: string, until: number, local: boolean) => void) | null = null;

  constructor(
    private readonly settings: () => GuardSettings,
    private readonly securityLog: SecurityLog,
  ) {}

  /** True when requests from this address are refused right now. */
  isBanned(ip: string): boolean {
    const until = this.banned.get(ip);
    if (until === undefined) return false;
    if (until > Date.now()) {
      this.counters.refused++;
      return true;
    }
    this.banned.delete(ip);
    return false;
  }

  /** A request for a device that does not exist: asking for the same one again is no new miss. */
  unknownMac(ip: string, mac: string): void {
    this.miss(ip, 'unknown-macs', (st) => st.macs.add(mac));
  }

  /** A wrong provisioning credential: every one counts. */
  authFailure(ip: string): void {
    this.miss(ip, 'auth-failures', (st) => st.failures++);
  }

  /**
   * A ban made elsewhere (it was logged there): by the primary, for an HTTP worker; by
   * another node, for a primary, which passes it on to its workers (onBan). The longest holds.
   */
  applyBan(ip: string, until: number): void {
    if (this.exempt(ip) || (this.banned.get(ip) ?? 0) >= until) return;
    this.banned.set(ip, until);
    this.onBan?.(ip, until, false);
  }

  bans(): { ip: string; until: string }[] {
    const now = Date.now();
    return [...this.banned].filter(([, until]) => until > now).map(([ip, until]) => ({ ip, until: new Date(until).toISOString() }));
  }

  /** Addresses in provisioning.guard.allow: never banned, whoever made the ban. */
  private exempt(ip: string): boolean {
    return this.allowList.has(this.settings().allow, ip);
  }

  private miss(ip: string, reason: string, count: (st: Strikes) => void): void {
    if (this.exempt(ip)) return;
    const s = this.settings();
    const now = Date.now();
    let st = this.strikes.get(ip);
    if (!st || now - st.since > s.window_seconds * 1000) {
      st = { macs: new Set(), failures: 0, since: now };
      this.strikes.set(ip, st);
      if (this.strikes.size > 100_000) this.sweep(now, s.window_seconds);
    }
    count(st);
    const misses = st.macs.size + st.failures;
    if (misses > s.max_misses) {
      this.strikes.delete(ip);
      const until = now + s.ban_seconds * 1000;
      this.banned.set(ip, until);
      this.counters.bans++;
      this.onBan?.(ip, until, true);
      this.securityLog.write('ban', { ip, service: 'provisioning', reason, count: misses, window: `${s.window_seconds}s`, duration: `${s.ban_seconds}s` });
    }
  }

  private sweep(now: number, windowSeconds: number): void {
    for (const [ip, st] of this.strikes) if (now - st.since > windowSeconds * 1000) this.strikes.delete(ip);
  }
}
