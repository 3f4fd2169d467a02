// Address helpers shared by the guards, the doctor and the composition root.
import { createSocket } from 'node:dgram';
import { lookup as dnsLookup, type LookupOneOptions } from 'node:dns';
import { BlockList, isIP, isIPv4, isIPv6 } from 'node:net';
import { networkInterfaces } from 'node:os';

/**
 * A dgram socket's lookup (its `lookup` option), run for every datagram sent: an address
 * literal (every SIP flow and RTP peer is one) is answered at once. The default
 * (dns.lookup) answers a literal on the next tick, which costs each datagram a closure
 * and a trip through the tick queue (3 % of a registration's CPU, docs/PERFORMANCE.md).
 * A name still goes to dns.lookup.
 */
export function literalLookup(hostname: string, options: LookupOneOptions | number, callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void): void {
  const family = isIP(hostname);
  if (family) return callback(null, hostname, family);
  // dgram passes the socket's family as a number.
  dnsLookup(hostname, typeof options === 'number' ? { family: options } : { ...options, all: false }, callback);
}

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

const PRIVATE = new BlockList();
for (const [net, bits] of [['10.0.0.0', 8], ['172.16.0.0', 12], ['192.168.0.0', 16], ['127.0.0.0', 8], ['100.64.0.0', 10], ['169.254.0.0', 16]] as const) PRIVATE.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [['fc00::', 7], ['fe80::', 10], ['::1', 128]] as const) PRIVATE.addSubnet(net, bits, 'ipv6');

/** A LAN, loopback, link-local or carrier-grade NAT address: one the public internet does not route. */
export function isPrivateAddress(ip: string): boolean {
  const a = unmapIPv4(ip);
  return isIPv4(a) ? PRIVATE.check(a, 'ipv4') : isIPv6(a) ? PRIVATE.check(a, 'ipv6') : false;
}

const towardCache = new Map<string, { address: string | null; at: number }>();

/**
 * The address of ours the kernel sends from toward `ip` (its route's source), found by
 * connecting a UDP socket (nothing is sent). Remembered for a minute per peer.
 */
export async function localAddressToward(ip: string): Promise<string | null> {
  const peer = unmapIPv4(ip);
  const hit = towardCache.get(peer);
  if (hit && Date.now() - hit.at < 60_000) return hit.address;
  const address = await new Promise<string | null>((resolve) => {
    const socket = createSocket(isIPv6(peer) ? 'udp6' : 'udp4');
    socket.on('error', () => {
      socket.close();
      resolve(null);
    });
    socket.connect(9, peer, () => {
      const local = socket.address().address;
      socket.close();
      resolve(local);
    });
  });
  if (towardCache.size > 10_000) towardCache.clear();
  towardCache.set(peer, { address, at: Date.now() });
  return address;
}

/**
 * Our address as a party at `peer` must see it in SDP: toward a phone on the LAN (a
 * private address) the LAN address this host reaches it from; toward anyone else the
 * public one (`external`, server.external_ip).
 */
export async function addressToward(peer: string, external: string): Promise<string> {
  if (!isPrivateAddress(peer)) return external;
  const local = await localAddressToward(peer);
  return local && isPrivateAddress(local) ? local : external;
}
