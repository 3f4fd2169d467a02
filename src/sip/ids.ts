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

/** Marks the tags of this process's stateless final responses, so the ACKs for them are known. */
const statelessPrefix = `${randomBytes(3).toString('hex')}-`;

/**
 * The To tag of a final response sent statelessly (a challenge, RFC 3261 §26.3.2.4): random as
 * any tag, with a per-process prefix so the ACK that answers it is absorbed without a transaction.
 */
export function statelessTag(): string {
  return statelessPrefix + randomHex(6);
}

export function isStatelessTag(tag: string | undefined): boolean {
  return tag !== undefined && tag.startsWith(statelessPrefix);
}

/** §8.1.1.4: Call-IDs "MUST be unique across space and time"; the host part is for people reading traces. */
export function newCallId(host: string): string {
  return `${randomHex(12)}@${host}`;
}
