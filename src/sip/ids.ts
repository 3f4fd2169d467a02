// Identifiers a SIP element makes up: Via branches, tags and Call-IDs (RFC 3261 §8.1.1,
// §19.3). Tags are made for every locally generated response, so they come from a pool
// of random bytes filled a few kilobytes at a time rather than one system call each.
import { randomBytes } from 'node:crypto';

/** §8.1.1.7: "The branch ID inserted by an element compliant with this specification MUST always begin with the characters z9hG4bK." */
export const MAGIC_COOKIE = 'z9hG4bK';

/** Unique per process (random prefix) and per request (counter): cheaper than random bytes each time. */
const branchPrefix = MAGIC_COOKIE + randomBytes(4).toString('hex');
let branchCounter = 0;

export function newBranch(): string {
  return `${branchPrefix}.${(branchCounter++).toString(36)}`;
}

const POOL_BYTES = 6 * 1024;
let pool = randomBytes(POOL_BYTES);
let poolAt = 0;

function randomHex(bytes: number): string {
  if (poolAt + bytes > POOL_BYTES) {
    pool = randomBytes(POOL_BYTES);
    poolAt = 0;
  }
  const hex = pool.toString('hex', poolAt, poolAt + bytes);
  poolAt += bytes;
  return hex;
}

/** §19.3: tags "MUST be globally unique and cryptographically random with at least 32 bits of randomness" (48 here). */
export function newTag(): string {
  return randomHex(6);
}

/** §8.1.1.4: Call-IDs "MUST be unique across space and time"; the host part is for people reading traces. */
export function newCallId(host: string): string {
  return `${randomHex(12)}@${host}`;
}
