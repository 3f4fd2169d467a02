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

/** Why the caller of this INVITE is behind NAT, or null when its Via and SDP name the address it sends from. */
export function callerBehindNat(req: SipRequest, flow: Flow): string | null {
  const source = plain(flow.remoteAddress);
  const via = plain(req.topVia.host);
  if (via !== source) return `its Via names ${req.topVia.host}, it sends from ${flow.remoteAddress}`;
  const sdp = SDP_ADDRESS.exec(req.body.toString('latin1'))?.[1];
  if (sdp && sdp !== '0.0.0.0' && plain(sdp) !== source) return `its SDP names ${sdp}, it sends from ${flow.remoteAddress}`;
  return null;
}

/** Why the phone registered as this binding is behind NAT, or null when its Contact names the address it registered from. */
export function bindingBehindNat(b: Binding): string | null {
  let host: string;
  try {
    host = parseUri(b.contact, 'Contact').host;
  } catch {
    return null;
  }
  return plain(host) === plain(b.sourceAddress) ? null : `its Contact names ${host}, it registered from ${b.sourceAddress}`;
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
