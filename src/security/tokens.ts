// API tokens and generated secrets. Tokens carry 256 bits of entropy, so a plain
// SHA-256 is a sufficient one-way hash (no slow KDF needed, unlike human passwords).
import { createHash, randomBytes, randomInt } from 'node:crypto';

export const TOKEN_PREFIX = 'pbx_';

export function newApiToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

// No look-alike characters (0/O, 1/l/I) so a secret read off a screen is typed right;
// phones' web UIs and keypads accept these.
const ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';

/** A strong SIP secret: 20 characters from a 57-letter alphabet (about 116 bits). */
export function newSipSecret(length = 20): string {
  let out = '';
  for (let i = 0; i < length; i++) out += ALPHABET[randomInt(ALPHABET.length)];
  return out;
}

/** Weak: short, or derived from the extension number the way old systems did (`ext1001`). */
export function isWeakSecret(secret: string, number: string): boolean {
  if (secret.length < 12) return true;
  const lower = secret.toLowerCase();
  if (lower.includes(number)) return true;
  if (new Set(secret).size < 6) return true;
  return false;
}
