// Random values made by the thousand (an HTTP digest nonce per challenge): one call into
// OpenSSL per 4 KB instead of one per value. In a phone's digest fetch, `randomBytes(18)`
// for its nonce was ~5 % of the event loop. The bytes come from the same source as
// `randomBytes`, fetched in bulk, and each is handed out once.
import { randomFillSync } from 'node:crypto';

const POOL_BYTES = 4096;
const pool = Buffer.allocUnsafeSlow(POOL_BYTES);
let next = POOL_BYTES;

/** `bytes` fresh random bytes (at most 4096) as base64url text. */
export function randomBase64url(bytes: number): string {
  if (bytes > POOL_BYTES) throw new RangeError(`at most ${POOL_BYTES} random bytes at once`);
  if (next + bytes > POOL_BYTES) {
    randomFillSync(pool);
    next = 0;
  }
  const text = pool.toString('base64url', next, next + bytes);
  next += bytes;
  return text;
}
