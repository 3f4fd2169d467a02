// Which party of a call between phones is behind NAT, so that media.anchor: nat relays
// its audio. A phone behind NAT writes its LAN address into Via, Contact and SDP, but
// its packets arrive from the router's public address: RTP sent to its SDP address
// would never reach it (Kamailio's nat_uac_test: Via, Contact and SDP against the
// source). Signalling alone is not enough to tell: a phone that learnt its public
// address (STUN) writes that one, and needs no relay.
import type { SipRequest } from '../sip/message.js';
import { parseUri } from '../sip/uri.js';
import type { Flow } from '../sip/transport.js';
import { normaliseAddress } from '../media/addresses.js';
import type { Binding } from './location.js';

const SDP_ADDRESS = /^c=IN IP[46] (\S+)/m;

/** An address as a source address is written: lower case, no brackets, no IPv4-mapped prefix. */
const plain = (host: string) => normaliseAddress(host.replace(/^\[(.*)\]$/, '$1'));

/**
 * Why the caller of this INVITE is behind NAT, or null when its Via and SDP name the
 * address it sends from. Through an edge proxy (more than one Via) the caller's own
 * Via is the last one, and the address the edge saw it send from is that Via's
 * `received` (RFC 3261 §18.2.1; Kamailio's force_rport adds it).
 */
export function callerBehindNat(req: SipRequest, flow: Flow): string | null {
  const vias = req.vias;
  const own = vias[vias.length - 1]!;
  const source = vias.length === 1 ? plain(flow.remoteAddress) : plain(own.params.get('received') ?? own.host);
  if (plain(own.host) !== source) return `its Via names ${own.host}, it sends from ${source}`;
  const sdp = SDP_ADDRESS.exec(req.body.toString('latin1'))?.[1];
  if (sdp && sdp !== '0.0.0.0' && plain(sdp) !== source) return `its SDP names ${sdp}, it sends from ${source}`;
  return null;
}

/**
 * Why the phone registered as this binding is behind NAT, or null when its Contact names
 * the address it registered from. Through an edge: the address the edge saw, which its
 * Path carries as `received` (Kamailio's add_path_received); without it, unknown (null).
 */
export function bindingBehindNat(b: Binding): string | null {
  let source = b.sourceAddress;
  if (b.path?.length) {
    const received = /;received=(?:"?sips?:)?\[?([0-9a-fA-F.:]+?)\]?(?::\d+)?(?:[;>"]|$)/.exec(unescaped(b.path[b.path.length - 1]!))?.[1];
    if (!received) return null;
    source = received;
  }
  let host: string;
  try {
    host = parseUri(b.contact, 'Contact').host;
  } catch {
    return null;
  }
  return plain(host) === plain(source) ? null : `its Contact names ${host}, it registered from ${source}`;
}

/** A Path value as written, or with its %-escapes undone (Kamailio escapes the received URI). */
function unescaped(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** Why a call from `req` to `callees` needs its media relayed (the first party behind NAT), or null. */
export function natReason(req: SipRequest, flow: Flow, callees: readonly Binding[]): string | null {
  const caller = callerBehindNat(req, flow);
  if (caller) return `the caller is behind NAT (${caller})`;
  for (const b of callees) {
    const why = bindingBehindNat(b);
    if (why) return `the callee's phone is behind NAT (${why})`;
  }
  return null;
}
