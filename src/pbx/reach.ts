// How to reach a registered phone: over the flow it registered on when it is behind
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

function contactTarget(contact: string): { host: string; port: number } | null {
  try {
    const u = parseUri(contact);
    if (!isIP(u.host)) return null;
    return { host: u.host, port: u.port ?? 5060 };
  } catch {
    return null;
  }
}
