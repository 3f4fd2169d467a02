// The client side of SIP digest authentication (RFC 3261 §22.2 and §22.3, RFC 7616,
// RFC 8760): answering a 401 (WWW-Authenticate → Authorization) or a 407
// (Proxy-Authenticate → Proxy-Authorization) challenge, MD5 or SHA-256, with qop=auth
// (nc, cnonce) when offered; and resending a request once with the answer.
import { randomBytes } from 'node:crypto';
import { digestResponse, ha1, parseAlgorithm, type DigestAlgorithm } from './digest.js';
import { parseCredentials } from './header-values.js';
import type { SipRequest, SipResponse } from './message.js';
import { resend } from './requests.js';

export interface ClientCredentials {
  username: string;
  password: string;
}

/** The header a challenge comes in and the header its answer goes in (§22.2, §22.3). */
export function challengeHeaders(status: number): { challenge: string; answer: string } | null {
  if (status === 401) return { challenge: 'www-authenticate', answer: 'authorization' };
  if (status === 407) return { challenge: 'proxy-authenticate', answer: 'proxy-authorization' };
  return null;
}

/** RFC 8760 §2.4: "the client ... SHOULD use the topmost header field that it supports". */
const PREFERENCE: DigestAlgorithm[] = ['SHA-256', 'MD5'];

/**
 * The credentials answering one challenge value (RFC 7616 §3.4), or null when it is not
 * a digest challenge this client can answer (another scheme, an unknown algorithm,
 * `qop` offered without `auth`, no nonce). `nc` counts the uses of this nonce (1 the first time).
 */
export function answerChallenge(challenge: string, credentials: ClientCredentials, method: string, uri: string, nc = 1): string | null {
  let parsed;
  try {
    parsed = parseCredentials(challenge);
  } catch {
    return null;
  }
  if (parsed.scheme.toLowerCase() !== 'digest') return null;
  const p = parsed.params;
  const algorithm = parseAlgorithm(p.get('algorithm'));
  const realm = p.get('realm');
  const nonce = p.get('nonce');
  if (!algorithm || realm === undefined || !nonce) return null;
  const offered = p.get('qop');
  const qops = offered === undefined ? [] : offered.split(',').map((q) => q.trim().toLowerCase());
  // RFC 7616 §3.3: when qop is given the client must pick one it supports; auth-int is not.
  if (offered !== undefined && !qops.includes('auth')) return null;
  const qop = qops.includes('auth') ? 'auth' : undefined;
  const cnonce = randomBytes(8).toString('hex');
  const ncText = nc.toString(16).padStart(8, '0');
  const response = digestResponse({
    algorithm,
    ha1: ha1(algorithm, credentials.username, realm, credentials.password),
    method,
    uri,
    nonce,
    qop,
    nc: ncText,
    cnonce,
  });
  const opaque = p.get('opaque');
  return (
    `Digest username="${quoted(credentials.username)}", realm="${quoted(realm)}", nonce="${quoted(nonce)}", uri="${uri}", ` +
    `response="${response}", algorithm=${algorithm}` +
    (qop ? `, qop=${qop}, nc=${ncText}, cnonce="${cnonce}"` : '') +
    (opaque !== undefined ? `, opaque="${quoted(opaque)}"` : '')
  );
}

/**
 * The header answering a 401/407 for `request`: the first challenge (in the preference
 * order of RFC 8760) this client can answer, or null when none can be.
 */
export function authorizationFor(request: SipRequest, response: SipResponse, credentials: ClientCredentials): { name: string; value: string } | null {
  const names = challengeHeaders(response.status);
  if (!names) return null;
  const challenges = response.getAll(names.challenge);
  const rank = (c: string) => {
    const algorithm = /algorithm\s*=\s*"?([\w-]+)/i.exec(c)?.[1] ?? 'MD5';
    const i = PREFERENCE.indexOf(algorithm.toUpperCase() as DigestAlgorithm);
    return i < 0 ? PREFERENCE.length : i;
  };
  for (const challenge of [...challenges].sort((a, b) => rank(a) - rank(b))) {
    const value = answerChallenge(challenge, credentials, request.method, request.uri);
    if (value) return { name: names.answer, value };
  }
  return null;
}

/**
 * The request to send after a 401/407 (§22.2: "the client SHOULD retry the request with
 * the appropriate credentials"; §8.1.3.5: with a new branch and, outside a dialog, a CSeq
 * one higher). `cseq` is the number to use when the dialog assigns it. Null when the
 * response is no challenge this client can answer.
 */
export function authenticatedRequest(request: SipRequest, response: SipResponse, credentials: ClientCredentials, cseq?: number): SipRequest | null {
  const header = authorizationFor(request, response, credentials);
  return header ? resend(request, [header], cseq) : null;
}

export interface AuthenticatedOutcome {
  /** The final response to the last request sent. */
  response: SipResponse;
  /** The last request sent (the authenticated one when there was a challenge). */
  request: SipRequest;
  challenged: boolean;
}

/**
 * Sends `request`; when it is challenged (401/407) and the challenge can be answered,
 * sends it once more with credentials. A second challenge is final (wrong credentials
 * must not loop).
 */
export async function withAuthenticatedRetry(
  send: (request: SipRequest) => Promise<SipResponse>,
  request: SipRequest,
  credentials: ClientCredentials | undefined,
): Promise<AuthenticatedOutcome> {
  const first = await send(request);
  if (!challengeHeaders(first.status)) return { response: first, request, challenged: false };
  const retry = credentials ? authenticatedRequest(request, first, credentials) : null;
  if (!retry) return { response: first, request, challenged: true };
  return { response: await send(retry), request: retry, challenged: true };
}

/** A quoted-string's content: drop what would end or escape it (RFC 3261 §25.1). */
function quoted(s: string): string {
  return s.replace(/["\\\r\n]/g, '');
}
