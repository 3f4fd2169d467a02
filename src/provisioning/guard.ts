// Enumeration defence for provisioning. A scanner walks MAC addresses (a vendor prefix
// plus 24 bits) hoping to hit a phone's file; a real phone asks for its own MAC again
// and again. So an address that asks for more than `max_unknown_macs` different unknown
// MACs within `window_seconds` is banned for `ban_seconds`; addresses in `allow` (a
// building full of new phones behind one NAT) never are. A banned request costs one
// map lookup. Every ban goes to the security log.
import { AddressList } from '../util/net.js';
import type { SecurityLog } from '../security/security-log.js';

export interface GuardSettings {
  max_unknown_macs: number;
  window_seconds: number;
  ban_seconds: number;
  allow: string[];
}

interface Strikes {
  macs: Set<string>;
  since: number;
}

export class ProvisioningGuard {
  private readonly banned = new Map<string, number>();
  private readonly strikes = new Map<string, Strikes>();
  private readonly allowList = new AddressList();
  readonly counters = { bans: 0, refused: 0 };

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

  /** Notes a request for an unknown device; bans the address when it looks like a scan. */
  unknownMac(ip: string, mac: string): void {
    if (this.allowed(ip)) return;
    const s = this.settings();
    const now = Date.now();
    let st = this.strikes.get(ip);
    if (!st || now - st.since > s.window_seconds * 1000) {
      st = { macs: new Set(), since: now };
      this.strikes.set(ip, st);
      if (this.strikes.size > 100_000) this.sweep(now, s.window_seconds);
    }
    st.macs.add(mac);
    if (st.macs.size > s.max_unknown_macs) {
      this.strikes.delete(ip);
      this.banned.set(ip, now + s.ban_seconds * 1000);
      this.counters.bans++;
      this.securityLog.write('ban', { ip, service: 'provisioning', reason: 'unknown-macs', count: st.macs.size, window: `${s.window_seconds}s`, duration: `${s.ban_seconds}s` });
    }
  }

  bans(): { ip: string; until: string }[] {
    const now = Date.now();
    return [...this.banned].filter(([, until]) => until > now).map(([ip, until]) => ({ ip, until: new Date(until).toISOString() }));
  }

  private allowed(ip: string): boolean {
    return this.allowList.has(this.settings().allow, ip);
  }

  private sweep(now: number, windowSeconds: number): void {
    for (const [ip, st] of this.strikes) if (now - st.since > windowSeconds * 1000) this.strikes.delete(ip);
  }
}
