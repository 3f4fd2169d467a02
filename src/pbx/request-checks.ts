// The checks the registrar and the SIP service both make before they act on a request:
// option tags the request insists on (RFC 3261 §8.2.2.3 Require, §16.3 Proxy-Require),
// and digest authentication with what a failure sets off (a log line, the flood guard)
// and the challenge to send. Each caller maps the result to its own response.
import type { Logger } from 'pino';
import type { Header, SipRequest } from '../sip/message.js';
import type { Flow } from '../sip/transport.js';
import type { DigestAuth } from './digest-auth.js';

/**
 * §8.2.2.3: "the UAS MUST respond by generating a response with a status code of 420
 * (Bad Extension). The UAS MUST add an Unsupported header field, and list in it those
 * options it does not understand amongst those in the Require header field." The
 * Unsupported header to send, or null when every tag is supported.
 */
export function unsupportedOptions(req: SipRequest, header: 'require' | 'proxy-require', supported: readonly string[]): Header | null {
  const unsupported = req.getAll(header).filter((t) => !supported.includes(t.toLowerCase()));
  return unsupported.length ? { name: 'unsupported', value: unsupported.join(', ') } : null;
}

export interface Authenticator {
  auth: DigestAuth;
  log: Logger;
  /** A failed attempt (not a missing or stale credential) from `ip`: the flood guard counts it. */
  onAuthFailure: (ip: string, flow: Flow, username: string | undefined, reason: string) => void;
  /** Where the request really comes from (the phone's address behind an edge proxy); default the packet's source. */
  clientOf?: (req: SipRequest, flow: Flow) => string;
  /** The extension is being guessed at and this address is none of its phones': refuse whatever the password. */
  guessing?: (extension: string, ip: string) => boolean;
}

export type Authentication = { ok: true; username: string } | { ok: false; challenges: string[] };

/**
 * Verifies the request's credentials (`authorization` for a registrar's 401,
 * `proxy-authorization` for a proxy's 407). On failure the result carries fresh
 * challenges: an unknown user, a wrong password and a replay all get the same kind, so
 * nothing tells which extensions exist. `claimed` is the user the request speaks for
 * (To of a REGISTER, From of a call), whose algorithms are offered.
 */
export function authenticate(a: Authenticator, req: SipRequest, flow: Flow, header: 'authorization' | 'proxy-authorization', claimed: string | undefined): Authentication {
  const ip = a.clientOf?.(req, flow) ?? flow.remoteAddress;
  let result = a.auth.verify(req, header, ip);
  const username = result.username;
  if (username && a.guessing?.(username, ip)) {
    // Even a right password: an attacker who guessed it must not learn so.
    result = { ok: false, reason: 'guessing', username };
  }
  if (result.ok) return result;
  if (result.reason !== 'missing' && result.reason !== 'stale') {
    a.onAuthFailure(ip, flow, result.username, result.reason);
    a.log.warn(
      { ip, port: flow.remotePort, method: req.method, username: result.username ?? null, reason: result.reason },
      `${req.method} authentication failed for ${result.username ?? '(no username)'} from ${ip}${ip === flow.remoteAddress ? '' : ` (through ${flow.remoteAddress})`}: ${result.reason}`,
    );
  }
  return { ok: false, challenges: a.auth.challenges(ip, result.reason === 'stale', claimed, req.get('user-agent')) };
}
