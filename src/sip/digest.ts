// HTTP Digest arithmetic for SIP (RFC 3261 §22, RFC 7616, RFC 8760): MD5 and SHA-256,
// with and without qop=auth. Policy (nonces, who may use which credentials) lives above.
import { hash } from 'node:crypto';

export type DigestAlgorithm = 'MD5' | 'SHA-256';

const NODE_ALGO: Record<DigestAlgorithm, string> = { MD5: 'md5', 'SHA-256': 'sha256' };

export function hashHex(algorithm: DigestAlgorithm, text: string): string {
  // One call, no Hash object (a third of createHash's cost for these short inputs).
  // crypto.hash reads a string as UTF-8: latin1 bytes as a Buffer, as digests are defined on them.
  return hash(NODE_ALGO[algorithm], isAscii(text) ? text : Buffer.from(text, 'latin1'), 'hex');
}

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return false;
  return true;
}

export function ha1(algorithm: DigestAlgorithm, username: string, realm: string, password: string): string {
  return hashHex(algorithm, `${username}:${realm}:${password}`);
}

export interface DigestInput {
  algorithm: DigestAlgorithm;
  ha1: string;
  method: string;
  uri: string;
  nonce: string;
  qop?: string;
  nc?: string;
  cnonce?: string;
}

/** The expected `response` value (RFC 7616 §3.4.1). */
export function digestResponse(i: DigestInput): string {
  const ha2 = hashHex(i.algorithm, `${i.method}:${i.uri}`);
  if (i.qop) return hashHex(i.algorithm, `${i.ha1}:${i.nonce}:${i.nc}:${i.cnonce}:${i.qop}:${ha2}`);
  return hashHex(i.algorithm, `${i.ha1}:${i.nonce}:${ha2}`);
}

/** Parses the algorithm token; MD5 when absent (RFC 7616 §3.3). Null when unsupported. */
export function parseAlgorithm(value: string | undefined): DigestAlgorithm | null {
  if (value === undefined || value === '') return 'MD5';
  const v = value.toUpperCase();
  if (v === 'MD5') return 'MD5';
  if (v === 'SHA-256') return 'SHA-256';
  return null;
}
