// Comparing secrets (tokens, keys, digest responses) in constant time. Both sides are
// hashed first, so neither their contents nor their lengths show in the timing.
import { createHash, timingSafeEqual } from 'node:crypto';

export function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}
