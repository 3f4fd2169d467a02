// An HTTP digest client (RFC 7616) written apart from the server's code, the way a
// phone's firmware answers a 401: pick a challenge, hash, retry once.
import { createHash, randomBytes } from 'node:crypto';

export interface Credential {
  user: string;
  password: string;
}

export interface Challenge {
  realm: string;
  nonce: string;
  qop?: string;
  algorithm: string;
  stale: boolean;
}

/** The Digest challenges of a WWW-Authenticate value (fetch joins several headers with ", "). */
export function parseChallenges(header: string | null): Challenge[] {
  if (!header) return [];
  return header
    .split(/,\s*(?=(?:Digest|Basic)\s)/i)
    .filter((c) => /^Digest\s/i.test(c))
    .map((c) => {
      const p = (k: string) => new RegExp(`${k}=(?:"([^"]*)"|([^,\\s]+))`, 'i').exec(c);
      const v = (k: string) => {
        const m = p(k);
        return m ? (m[1] ?? m[2]) : undefined;
      };
      return { realm: v('realm') ?? '', nonce: v('nonce') ?? '', qop: v('qop'), algorithm: v('algorithm') ?? 'MD5', stale: v('stale') === 'true' };
    });
}

export function digestAuthorization(
  c: Challenge,
  cred: Credential,
  method: string,
  uri: string,
  opts: { nc?: number; cnonce?: string } = {},
): string {
  const algo = c.algorithm.toUpperCase() === 'SHA-256' ? 'sha256' : 'md5';
  const h = (s: string) => createHash(algo).update(s).digest('hex');
  const nc = (opts.nc ?? 1).toString(16).padStart(8, '0');
  const cnonce = opts.cnonce ?? randomBytes(8).toString('hex');
  const ha1 = h(`${cred.user}:${c.realm}:${cred.password}`);
  const ha2 = h(`${method}:${uri}`);
  const response = c.qop ? h(`${ha1}:${c.nonce}:${nc}:${cnonce}:auth:${ha2}`) : h(`${ha1}:${c.nonce}:${ha2}`);
  const qop = c.qop ? `, qop=auth, nc=${nc}, cnonce="${cnonce}"` : '';
  return `Digest username="${cred.user}", realm="${c.realm}", nonce="${c.nonce}", uri="${uri}", algorithm=${c.algorithm}, response="${response}"${qop}`;
}

/**
 * GET like a phone that knows its credential: a first try without, and on a 401 one
 * retry answering the challenge of the wanted algorithm.
 */
export async function fetchWithDigest(
  url: string,
  cred: Credential | undefined,
  headers: Record<string, string> = {},
  algorithm: 'MD5' | 'SHA-256' = 'MD5',
  request: { method?: string; body?: string | Buffer } = {},
): Promise<Response> {
  const method = request.method ?? 'GET';
  const first = await fetch(url, { method, headers, body: request.body });
  if (first.status !== 401 || !cred) return first;
  await first.text();
  const challenge = parseChallenges(first.headers.get('www-authenticate')).find((c) => c.algorithm.toUpperCase() === algorithm);
  if (!challenge) return first;
  const u = new URL(url);
  return fetch(url, { method, headers: { ...headers, authorization: digestAuthorization(challenge, cred, method, u.pathname + u.search) }, body: request.body });
}

export interface Got {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A GET from a chosen local address (all of 127.0.0.0/8 is this host), over HTTP or HTTPS. */
export async function getFrom(
  o: { port: number; path: string; localAddress?: string; headers?: Record<string, string>; https?: boolean; ca?: string },
): Promise<Got> {
  const { request } = o.https ? await import('node:https') : await import('node:http');
  return new Promise((ok, fail) => {
    const req = request(
      { host: '127.0.0.1', port: o.port, path: o.path, localAddress: o.localAddress, headers: o.headers, ...(o.https ? { ca: o.ca } : {}) },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => ok({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', fail);
    req.end();
  });
}

/** getFrom, answering a 401 with the credential like a phone (one retry). */
export async function getWithDigest(
  o: Parameters<typeof getFrom>[0],
  cred: Credential,
  algorithm: 'MD5' | 'SHA-256' = 'MD5',
): Promise<Got & { authorization?: string }> {
  const first = await getFrom(o);
  if (first.status !== 401) return first;
  const header = [first.headers['www-authenticate'] ?? []].flat().join(', ');
  const challenge = parseChallenges(header).find((c) => c.algorithm.toUpperCase() === algorithm);
  if (!challenge) return first;
  const authorization = digestAuthorization(challenge, cred, 'GET', o.path);
  const second = await getFrom({ ...o, headers: { ...o.headers, authorization } });
  return { ...second, authorization };
}
