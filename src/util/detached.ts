// V8 cuts a substring out of a longer string as a "sliced string" that points into its
// parent and keeps all of it alive. A SIP header value is such a slice of the whole
// header block, so a registration that kept its Contact, Call-ID and User-Agent as
// parsed kept its REGISTER's whole text too (measured: about 570 bytes per binding,
// bench/fleet.ts with SNAPSHOTS). Values kept for long are copied out first.

/** `s` as a string of its own, holding nothing else alive. */
export function detached(s: string): string {
  return s.length < 13 ? s : Buffer.from(s, 'utf8').toString('utf8');
}
