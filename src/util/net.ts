// Address helpers shared by the guards, the doctor and the composition root.
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { networkInterfaces } from 'node:os';

/** `::ffff:10.0.0.5` (an IPv4 peer on a dual-stack socket) is 10.0.0.5. */
export function unmapIPv4(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}

/** This host's interface addresses (loopback too unless `external`). */
export function hostAddresses(external = false): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((a): a is NonNullable<typeof a> => !!a && (!external || !a.internal))
    .map((a) => a.address.toLowerCase());
}

/** A list of addresses and CIDRs (`1.2.3.4`, `10.0.0.0/8`, `fd00::/8`) to test addresses against. */
export class AddressList {
  private list = new BlockList();
  private entries: string[] | undefined;
  private key = '';
  /** Answers per address for the current entries: the same phones ask again and again. */
  private readonly seen = new Map<string, boolean>();

  /** True when `ip` is in `entries` (rebuilt only when the entries change). */
  has(entries: string[], ip: string): boolean {
    if (entries !== this.entries) this.rebuild(entries);
    let answer = this.seen.get(ip);
    if (answer === undefined) {
      const family = isIPv4(ip) ? 'ipv4' : isIPv6(ip) ? 'ipv6' : null;
      answer = family !== null && this.list.check(ip, family);
      if (this.seen.size >= 10_000) this.seen.clear();
      this.seen.set(ip, answer);
    }
    return answer;
  }

  private rebuild(entries: string[]): void {
    this.entries = entries;
    // A reloaded config brings new arrays with the same entries: keep the answers then.
    const key = entries.join(',');
    if (key === this.key) return;
    this.key = key;
    this.seen.clear();
    this.list = new BlockList();
    for (const e of entries) {
      const [addr, bits] = e.split('/');
      const family = isIPv6(addr!) ? 'ipv6' : 'ipv4';
      if (bits === undefined) this.list.addAddress(addr!, family);
      else this.list.addSubnet(addr!, Number(bits), family);
    }
  }
}
