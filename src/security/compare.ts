// Comparing secrets (tokens, keys, digest responses) in constant time. Both sides are
// hashed first, so neither their contents nor their lengths show in the timing.
import { createHash, timingSafeEqual } from 'node:crypto';

export function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

/**
 * Two digest responses of one algorithm (hex text of a length the algorithm fixes, so the
 * length tells nothing): equal, in a time that depends only on that length. No hashing
 * and no allocation, as it runs on every authenticated SIP request and phone-file fetch.
 */
export function sameDigest(expected: string, given: string): boolean {
  if (expected.length !== given.length) return false;
  let diff = 0;
  for (let i = 0; i < expected.length; i++) diff |= expected.charCodeAt(i) ^ given.charCodeAt(i);
  return diff === 0;
}
