// Source addresses as the media layer compares them.

/** IPv4-mapped IPv6 (`::ffff:1.2.3.4`) and plain IPv4 are the same source. */
export function normaliseAddress(address: string): string {
  const a = address.toLowerCase();
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}
