// How to reach a registered phone: through the first hop of its Path when it registered
// through an edge proxy (RFC 3327), over the flow it registered on when it is behind
// NAT (its source address and port, or its connection), else at its Contact address.
import { isIP } from 'node:net';
import type { SipStack } from '../sip/stack.js';
import { udpLocalPort, type Flow } from '../sip/transport.js';
import { parseUri } from '../sip/uri.js';
import type { Binding } from './location.js';

/** Where a party can be reached: the flow its requests come on. */
export interface Peer {
  transport: string;
  address: string;
  port: number;
  flowId: string;
}

export function peerOf(b: Binding): Peer {
  // Through the edge: to the proxy the Path names first (on another node's binding the
  // REGISTER's own flow is that node's, not ours).
  // (A stream edge is reached over the connection the REGISTER came on.)
  const edge = b.path?.[0] ? pathTarget(b.path[0]) : null;
  if (edge?.transport === 'udp') return { transport: 'udp', address: edge.host, port: edge.port, flowId: b.flowId };
  if (!b.behindNat && b.transport === 'udp') {
    const target = contactTarget(b.contact);
    if (target) return { transport: 'udp', address: target.host, port: target.port, flowId: b.flowId };
  }
  return { transport: b.transport, address: b.sourceAddress, port: b.sourcePort, flowId: b.flowId };
}

/** A flow to send on, or undefined when the phone's connection is gone. */
export function flowToPeer(stack: SipStack, p: Peer): Flow | undefined {
  if (p.transport === 'udp') return stack.transports.udpFlow(p.address, p.port, udpLocalPort(p.flowId));
  const f = stack.transports.flow(p.flowId);
  return f?.isOpen() ? f : undefined;
}

export function flowToBinding(stack: SipStack, b: Binding): Flow | undefined {
  return flowToPeer(stack, peerOf(b));
}

/** A Path entry (`<sip:edge.example.com:5060;lr;transport=tcp>`) with a numeric host: where it sends. */
function pathTarget(entry: string): { transport: string; host: string; port: number } | null {
  const m = /<([^>]+)>/.exec(entry);
  const target = contactTarget(m ? m[1]! : entry.trim());
  if (!target) return null;
  const transport = /;transport=(\w+)/i.exec(m ? m[1]! : entry)?.[1]?.toLowerCase() ?? 'udp';
  return { transport, ...target };
}

function contactTarget(contact: string): { host: string; port: number } | null {
  try {
    const u = parseUri(contact);
    if (!isIP(u.host)) return null;
    return { host: u.host, port: u.port ?? 5060 };
  } catch {
    return null;
  }
}
