// Digest authentication policy for requests from phones. Nonces are made by the
// server, expire, are bound to the client's source address by a keyed hash, and a nonce
// count (nc) can be used once, so a captured Authorization header cannot be replayed.
// The digest username is the identity; the caller checks it owns what it asks for.
import { createHmac, hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { parseCredentials } from '../sip/header-values.js';
import { sameDigest } from '../security/compare.js';
import type { SipRequest } from '../sip/message.js';
import { digestResponse, ha1, parseAlgorithm, type DigestAlgorithm } from '../sip/digest.js';

export type AuthResult =
  | { ok: true; username: string }
  | { ok: false; reason: 'missing' | 'stale' | 'malformed' | 'bad_nonce' | 'replay' | 'unknown_user' | 'wrong_password' | 'realm' | 'guessing'; username?: string };

/** Who an answer from a user that does not exist is checked against (it can never match: no extension has this secret). */
const DECOY_USER = '\u0000decoy';
const DECOY_SECRET = randomBytes(24).toString('base64');

export interface Credentials {
  secret: string;
  algorithms: readonly DigestAlgorithm[];
}

/**
 * How an unknown user is challenged. Extensions may have their own algorithms (an
 * MD5-only phone), so a challenge that always named the site default for unknown users
 * would tell a scanner which users exist. Instead an unknown user gets the algorithms
 * of an extension picked by a keyed hash of the name: the same answer every time (and
 * after a restart: the key is derived from the key file), in the same proportions as
 * the real extensions.
 */
export interface Decoys {
  key: Buffer;
  /** The algorithms of every enabled extension, one entry each. */
  sets: () => (readonly DigestAlgorithm[])[];
}

export interface DigestAuthSettings {
  realm: string;
  nonceTtlSeconds: number;
  /** Offered in this order (RFC 8760: the preferred one first). */
  algorithms: readonly DigestAlgorithm[];
}

const NONCE_BYTES = 8 + 8 + 16;
/** Recent nonces whose uses are tracked (2^20: 4 bytes of owner and 4 of nc each, 8 MB). */
const NONCE_SLOTS = 1 << 20;

/**
 * SIP clients that compute only MD5 and give up on any other challenge in the answer:
 * Debian's baresip (libre 1.x walks every WWW-Authenticate and stops with "Function not
 * implemented" at a SHA-256 one, wherever it stands), JsSIP, SIP.js, sipsak, SIPp. When
 * one of them asks and the extension allows MD5, it is challenged with MD5 alone. The
 * choice depends on the User-Agent only, so it tells nothing of which users exist; a
 * forged User-Agent gains nothing, since MD5 is allowed for that extension anyway.
 */
export const MD5_ONLY_CLIENTS = /\b(baresip|JsSIP|SIP\.js|sipsak|SIPp)\b/i;

export class DigestAuth {
  private readonly key = randomBytes(32);
  /** The key, then room for a nonce's 16 bytes and an address (see mac). */
  private readonly macInput = Buffer.concat([this.key, Buffer.alloc(16 + 64)]);
  /** Nonces issued so far (mod 2^32); a nonce's number picks its slot in the ring below. */
  private issued = 0;
  /**
   * The highest nc used with each recent nonce (qop-less digests: single use), in a ring
   * of NONCE_SLOTS slots indexed by the nonce's number, as Kamailio's auth module keeps
   * them (nc_array): no allocation and nothing to sweep per registration, a fixed 8 MB
   * off the JavaScript heap. A nonce whose slot a later nonce has taken (more than
   * NONCE_SLOTS nonces issued since: over 3,500 a second for its whole lifetime) is
   * answered as stale: the phone retries at once with a fresh one, no password asked.
   */
  private readonly owner: Uint32Array;
  private readonly highestNc: Uint32Array;
  /** Each existing extension's HA1 per algorithm, with the secret and realm it was made from (ha1Of). */
  private readonly ha1s = new Map<string, { secret: string; realm: string; md5: string | undefined; sha256: string | undefined }>();

  /** `settings` is read on every use, so a config reload applies at once. */
  constructor(
    private readonly settings: () => DigestAuthSettings,
    private readonly lookup: (username: string) => Credentials | undefined,
    private readonly decoys?: Decoys,
    private readonly nonceSlots = NONCE_SLOTS,
  ) {
    this.owner = new Uint32Array(nonceSlots);
    this.highestNc = new Uint32Array(nonceSlots);
  }

  private get o(): DigestAuthSettings {
    return this.settings();
  }

  get realm(): string {
    return this.o.realm;
  }

  /**
   * WWW-Authenticate / Proxy-Authenticate values: one per algorithm, preferred first.
   * `username` (the AOR or From user) selects that extension's algorithms, if it has its own;
   * `userAgent` narrows the offer to MD5 for clients known to fail on any other.
   */
  challenges(clientAddress: string, stale = false, username?: string, userAgent?: string): string[] {
    const nonce = this.makeNonce(clientAddress);
    let algorithms = username ? (this.lookup(username)?.algorithms ?? this.decoyFor(username)) : this.o.algorithms;
    if (userAgent && algorithms.length > 1 && algorithms.includes('MD5') && MD5_ONLY_CLIENTS.test(userAgent)) algorithms = ['MD5'];
    return algorithms.map(
      (a) => `Digest realm="${this.o.realm}", nonce="${nonce}", algorithm=${a}, qop="auth"${stale ? ', stale=true' : ''}`,
    );
  }

  /**
   * H(username:realm:password), kept per user: it changes only with the password or the
   * realm, and it is a third of the hashing of every authenticated request. Only for
   * extensions that exist (and the one decoy), so names made up by a scanner add nothing.
   */
  private ha1Of(username: string, secret: string, algorithm: DigestAlgorithm): string {
    const realm = this.o.realm;
    let kept = this.ha1s.get(username);
    if (!kept || kept.secret !== secret || kept.realm !== realm) this.ha1s.set(username, (kept = { secret, realm, md5: undefined, sha256: undefined }));
    if (algorithm === 'MD5') return (kept.md5 ??= ha1(algorithm, username, realm, secret));
    return (kept.sha256 ??= ha1(algorithm, username, realm, secret));
  }

  private decoyFor(username: string): readonly DigestAlgorithm[] {
    const sets = this.decoys?.sets() ?? [];
    if (sets.length === 0) return this.o.algorithms;
    const pick = createHmac('sha256', this.decoys!.key).update(username).digest().readUInt32BE(0) % sets.length;
    return sets[pick]!;
  }

  verify(req: SipRequest, header: 'authorization' | 'proxy-authorization', clientAddress: string): AuthResult {
    const values = req.getAll(header);
    if (values.length === 0) return { ok: false, reason: 'missing' };
    // A request may carry credentials for several realms; use ours.
    let creds;
    for (const v of values) {
      try {
        const c = parseCredentials(v);
        if (c.scheme.toLowerCase() === 'digest' && c.params.get('realm') === this.o.realm) creds = c;
      } catch {
        return { ok: false, reason: 'malformed' };
      }
    }
    if (!creds) return { ok: false, reason: 'realm' };
    const p = creds.params;
    const username = p.get('username');
    const nonce = p.get('nonce');
    const uri = p.get('uri');
    const response = p.get('response');
    const algorithm = parseAlgorithm(p.get('algorithm'));
    if (!username || !nonce || !uri || !response || !algorithm) return { ok: false, reason: 'malformed', username };
    const qop = p.get('qop');
    const nc = p.get('nc');
    const cnonce = p.get('cnonce');
    if (qop !== undefined && (qop !== 'auth' || !nc || !/^[0-9a-fA-F]{8}$/.test(nc) || !cnonce)) {
      return { ok: false, reason: 'malformed', username };
    }
    const opened = this.openNonce(nonce, clientAddress);
    if (opened === null) return { ok: false, reason: 'bad_nonce', username };

    const user = this.lookup(username);
    if (!user) this.ha1s.delete(username); // a deleted extension's HA1 is not kept
    // Same work either way (two hashes from a kept HA1), so timing does not tell a missing
    // user from a wrong password.
    const expected = digestResponse({
      algorithm,
      ha1: this.ha1Of(user ? username : DECOY_USER, user?.secret ?? DECOY_SECRET, algorithm),
      method: req.method,
      uri,
      nonce,
      qop,
      nc,
      cnonce,
    });
    const good = sameDigest(expected, response.toLowerCase());
    if (!user) return { ok: false, reason: 'unknown_user', username };
    if (!user.algorithms.includes(algorithm)) return { ok: false, reason: 'wrong_password', username };
    if (!good) return { ok: false, reason: 'wrong_password', username };
    if (opened.age > this.o.nonceTtlSeconds) return { ok: false, reason: 'stale', username };
    const use = this.acceptCount(opened.n, qop ? parseInt(nc!, 16) : -1);
    if (use !== 'ok') return { ok: false, reason: use === 'evicted' ? 'stale' : 'replay', username };
    return { ok: true, username };
  }

  private makeNonce(clientAddress: string): string {
    const buf = Buffer.allocUnsafe(NONCE_BYTES);
    const now = Date.now();
    buf.writeUInt32BE(Math.floor(now / 2 ** 32), 0);
    buf.writeUInt32BE(now % 2 ** 32, 4);
    // Unique, not secret: the HMAC below is what makes a nonce unforgeable.
    const n = (this.issued = (this.issued + 1) >>> 0);
    buf.writeUInt32BE(0, 8);
    buf.writeUInt32BE(n, 12);
    const slot = n % this.nonceSlots;
    this.owner[slot] = n;
    this.highestNc[slot] = 0;
    this.mac(buf.subarray(0, 16), clientAddress).copy(buf, 16);
    return buf.toString('base64url');
  }

  /** The nonce's age in seconds and number, or null when it is not ours or not for this client. */
  private openNonce(nonce: string, clientAddress: string): { age: number; n: number } | null {
    const buf = Buffer.from(nonce, 'base64url');
    if (buf.length !== NONCE_BYTES) return null;
    const mac = this.mac(buf.subarray(0, 16), clientAddress);
    if (!timingSafeEqual(mac, buf.subarray(16))) return null;
    const made = buf.readUInt32BE(0) * 2 ** 32 + buf.readUInt32BE(4);
    return { age: (Date.now() - made) / 1000, n: buf.readUInt32BE(12) };
  }

  /**
   * The nonce's tag: SHA-256 over the key, the nonce's 16 bytes and the client's address,
   * cut to 128 bits. Cutting the output leaves an attacker without the hash's state, so
   * the length-extension that makes a plain key-prefix hash unsafe does not apply; one
   * hash call on a reused buffer costs half an HMAC object (twice per registration).
   */
  private mac(data: Buffer, clientAddress: string): Buffer {
    const key = this.key.length;
    const end = key + 16 + clientAddress.length;
    const input = end <= this.macInput.length ? this.macInput : Buffer.alloc(end);
    if (input !== this.macInput) this.key.copy(input, 0);
    data.copy(input, key, 0, 16);
    input.write(clientAddress, key + 16, 'latin1');
    return hash('sha256', input.subarray(0, end), 'buffer').subarray(0, 16);
  }

  /**
   * nc must grow for each use of a nonce; without qop a nonce is single-use. 'evicted':
   * the nonce's slot now belongs to a newer nonce, so its uses can no longer be told.
   */
  private acceptCount(n: number, nc: number): 'ok' | 'replay' | 'evicted' {
    const slot = n % this.nonceSlots;
    if (this.owner[slot] !== n) return 'evicted';
    // A qop-less use is recorded as the highest count there is: nothing may follow it.
    const count = nc < 0 ? 0xffffffff : nc;
    if (count <= this.highestNc[slot]!) return 'replay';
    this.highestNc[slot] = count;
    return 'ok';
  }
}
