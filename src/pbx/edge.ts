// The edge proxies in front of the nodes (cluster.edge_addresses: Kamailio, say). Every
// phone's request arrives from an edge's address, so that address says nothing about
// the phone: the flood guard, the ban list and the digest checks must look at the
// address the edge received the request from, which the edge's Via below its own
// records (`received`, RFC 3261 §18.2.1, added when it differs from the sent-by). An
// edge itself is never limited or banned: a ban would cut off every phone behind it.
// Only an edge's Via is believed; anyone else's request is judged by its own source.
import type { SipRequest } from '../sip/message.js';
import type { Flow } from '../sip/transport.js';
import { AddressList, unmapIPv4 } from '../util/net.js';

export class EdgeProxies {
  private readonly list = new AddressList();

  constructor(private readonly addresses: () => string[]) {}

  /** The address is one of the edge proxies. */
  has(ip: string): boolean {
    const entries = this.addresses();
    return entries.length > 0 && this.list.has(entries, unmapIPv4(ip));
  }

  /** The address the request comes from: the phone's as an edge saw it, else the packet's source. */
  clientOf(req: SipRequest, flow: Flow): string {
    if (!this.has(flow.remoteAddress)) return flow.remoteAddress;
    const hop = req.vias[1];
    return hop ? (hop.params.get('received') ?? hop.host).replace(/^\[(.*)\]$/, '$1') : flow.remoteAddress;
  }
}
