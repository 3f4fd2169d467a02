// Who may have a per-device (sensitive) file: the phone that shows the credential its
// own file gave it, by HTTP digest (RFC 7616; server-side nonces that expire, are bound
// to the client address and are used once) or, over TLS only, by basic auth. A device
// just added has no credential yet, so it may fetch without one inside its first-fetch
// window (minutes after being added, from listed networks, until it first authenticates).
import { sameDigest, sameSecret } from '../security/compare.js';
import { digestResponse, ha1, parseAlgorithm, type DigestAlgorithm } from '../sip/digest.js';
import { parseCredentials } from '../sip/header-values.js';
import { AddressList } from '../util/net.js';
import { randomBase64url } from '../util/random-pool.js';
import type { Device } from './devices.js';

export interface AuthSettings {
  mode: 'digest' | 'none';
  realm: string;
  nonce_ttl_seconds: number;
  first_fetch_minutes: number;
  first_fetch_networks: string[];
  url_key: string;
}

export interface AuthRequest {
  authorization: string | undefined;
  method: string;
  /** The request target as sent (path and query), which a digest `uri` must equal. */
  uri: string;
  ip: string;
  /** True when the request came over TLS (basic auth is accepted only then). */
  secure: boolean;
  /** True when the path began with the site's URL key (a remote phone's first fetch). */
  keyed?: boolean;
}

/** How a request was allowed a per-device file: its credential, the first-fetch window, or auth off. */
export type AuthHow = 'digest' | 'basic' | 'window' | 'off';

export type AuthVerdict =
  | { ok: true; how: AuthHow }
  | {
      ok: false;
      /** Header values for WWW-Authenticate. */
      challenge: string[];
      /** Why the offered credential failed (a miss for the guard); null when none was offered or it was only stale. */
      failure: string | null;
    };

/**
 * After the phone first fetched its file through the window, the window stays open this
 * long at most: enough for the rest of a boot and a retry, short for anyone else.
 */
export const WINDOW_AFTER_FIRST_USE_MINUTES = 10;

/** Issued nonces are kept at most this many; the oldest go first (a flood cannot grow memory). */
const MAX_NONCES = 100_000;

/** An issued nonce: when it expires and which address it was issued to. */
export interface IssuedNonce {
  expires: number;
  ip: string;
}

export class ProvisioningAuth {
  /** nonce → its issue. Map order is issue order. */
  private readonly nonces = new Map<string, IssuedNonce>();
  private readonly firstFetchNets = new AddressList();

  /**
   * `issuer` names this process in the nonces it makes (`<issuer>.<random>`): with HTTP
   * worker processes a phone's answer can reach another process than its challenge did,
   * which then claims the nonce from its issuer (issuerOf, claim, adopt), so it is still
   * used once.
   */
  constructor(
    private readonly settings: () => AuthSettings,
    readonly issuer = 'p',
  ) {}

  /** Which process issued the nonce in this Authorization header (undefined: none or not ours). */
  static issuerOf(authorization: string | undefined): { issuer: string; nonce: string } | undefined {
    if (!authorization) return undefined;
    const m = /\bnonce="([A-Za-z0-9]{1,8})\.([A-Za-z0-9_-]{1,64})"/.exec(authorization);
    return m ? { issuer: m[1]!, nonce: `${m[1]}.${m[2]}` } : undefined;
  }

  /** True when this process issued the nonce and still holds it. */
  holds(nonce: string): boolean {
    return this.nonces.has(nonce);
  }

  /** Hands an issued nonce over (to the process the answer reached): it is no longer valid here. */
  claim(nonce: string): IssuedNonce | undefined {
    const issued = this.nonces.get(nonce);
    if (issued) this.nonces.delete(nonce);
    return issued;
  }

  /** Takes a nonce claimed from its issuer, to be checked (and spent) here. */
  adopt(nonce: string, issued: IssuedNonce): void {
    this.nonces.set(nonce, issued);
  }

  /**
   * Before a request is judged here: when its Authorization answers a nonce another process
   * issued, claims it from that process (`claimFrom`) and adopts it. Undefined when there is
   * nothing to wait for.
   */
  claimForeign(authorization: string | undefined, claimFrom: (issuer: string, nonce: string) => Promise<IssuedNonce | null>): Promise<void> | undefined {
    const n = ProvisioningAuth.issuerOf(authorization);
    if (!n || n.issuer === this.issuer || this.holds(n.nonce)) return undefined;
    return claimFrom(n.issuer, n.nonce).then((issued) => {
      if (issued) this.adopt(n.nonce, issued);
    });
  }

  check(device: Device, req: AuthRequest): AuthVerdict {
    const s = this.settings();
    if (s.mode === 'none') return { ok: true, how: 'off' };
    if (req.authorization) {
      // Credentials that come with a request are checked, in the window too: a wrong one
      // is a failure (an admin testing the credential with curl must learn it is wrong).
      const result = this.verify(device, req, s);
      if (result === 'ok-digest' || result === 'ok-basic') return { ok: true, how: result === 'ok-digest' ? 'digest' : 'basic' };
      return { ok: false, challenge: this.challenge(req, s, result === 'stale'), failure: result === 'stale' ? null : result };
    }
    if (this.inWindow(device, req, s)) return { ok: true, how: 'window' };
    return { ok: false, challenge: this.challenge(req, s, false), failure: null };
  }

  /** Whether the device may still fetch without its credential, and until when. */
  windowUntil(device: Device): string | null {
    const until = this.windowEnd(device);
    return until === null ? null : new Date(until).toISOString();
  }

  /** Whether the device's first-fetch window is open now (windowUntil without the date text: asked on every fetch). */
  windowOpen(device: Device): boolean {
    return this.windowEnd(device) !== null;
  }

  private windowEnd(device: Device): number | null {
    const s = this.settings();
    if (!device.windowOpenedAt || s.first_fetch_minutes === 0) return null;
    let until = Date.parse(device.windowOpenedAt) + s.first_fetch_minutes * 60_000;
    if (device.windowUsedAt) until = Math.min(until, Date.parse(device.windowUsedAt) + WINDOW_AFTER_FIRST_USE_MINUTES * 60_000);
    return until > Date.now() ? until : null;
  }

  /** Inside the device's window, from a listed network or through the site's URL key. */
  private inWindow(device: Device, req: AuthRequest, s: AuthSettings): boolean {
    return this.windowOpen(device) && ((req.keyed === true && s.url_key !== '') || this.firstFetchNets.has(s.first_fetch_networks, req.ip));
  }

  private challenge(req: AuthRequest, s: AuthSettings, stale: boolean): string[] {
    const nonce = `${this.issuer}.${randomBase64url(18)}`;
    if (this.nonces.size >= MAX_NONCES) this.nonces.delete(this.nonces.keys().next().value!);
    this.nonces.set(nonce, { expires: Date.now() + s.nonce_ttl_seconds * 1000, ip: req.ip });
    const common = `realm="${s.realm}", qop="auth", nonce="${nonce}"${stale ? ', stale=true' : ''}`;
    // Strongest first (RFC 7616 §3.7); most phones only know MD5.
    const out = [`Digest ${common}, algorithm=SHA-256`, `Digest ${common}, algorithm=MD5`];
    if (req.secure) out.push(`Basic realm="${s.realm}", charset="UTF-8"`);
    return out;
  }

  /** ok-…, 'stale' (unknown, used or expired nonce: no proof of a wrong password), or why it failed. */
  private verify(device: Device, req: AuthRequest, s: AuthSettings): 'ok-digest' | 'ok-basic' | 'stale' | string {
    const header = req.authorization!;
    const scheme = header.slice(0, header.indexOf(' ')).toLowerCase();
    if (scheme === 'basic') {
      if (!req.secure) return 'basic-without-tls';
      const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon < 0) return 'malformed';
      const userOk = sameSecret(decoded.slice(0, colon), device.credential.user);
      const passOk = sameSecret(decoded.slice(colon + 1), device.credential.password);
      return userOk && passOk ? 'ok-basic' : 'wrong-credential';
    }
    if (scheme !== 'digest') return 'unsupported-scheme';
    let p: Map<string, string>;
    try {
      p = parseCredentials(header).params;
    } catch {
      return 'malformed';
    }
    const nonce = p.get('nonce') ?? '';
    const issued = this.nonces.get(nonce);
    // Single use: whatever happens next, this nonce is spent.
    if (issued) this.nonces.delete(nonce);
    if (!issued || issued.expires < Date.now() || issued.ip !== req.ip) return 'stale';
    const algorithm: DigestAlgorithm | null = parseAlgorithm(p.get('algorithm'));
    if (!algorithm) return 'unsupported-algorithm';
    if (p.get('realm') !== s.realm) return 'wrong-realm';
    if (p.get('uri') !== req.uri) return 'wrong-uri';
    const qop = p.get('qop');
    if (qop !== undefined && qop !== 'auth') return 'unsupported-qop';
    if (qop && (!p.get('nc') || !p.get('cnonce'))) return 'malformed';
    if (p.get('username') !== device.credential.user) return 'wrong-credential';
    const expected = digestResponse({
      algorithm,
      ha1: ha1(algorithm, device.credential.user, s.realm, device.credential.password),
      method: req.method,
      uri: req.uri,
      nonce,
      qop,
      nc: p.get('nc'),
      cnonce: p.get('cnonce'),
    });
    return sameDigest(expected, (p.get('response') ?? '').toLowerCase()) ? 'ok-digest' : 'wrong-credential';
  }
}
