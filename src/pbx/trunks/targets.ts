// Where to send a trunk's requests (RFC 3263 §4, simplified to what providers publish):
// an outbound proxy when one is set; a literal address; a fixed port on the host's
// A/AAAA records; else the host's SRV records for the transport, by priority and then
// weight (RFC 2782), each target's addresses in turn; no SRV: the host's A/AAAA records
// on the default port. The caller tries them in order (failover).
import { lookup, resolveSrv } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { SipStack } from '../../sip/stack.js';
import type { Flow } from '../../sip/transport.js';
import type { Trunk, TrunkTransport } from './store.js';

export interface Target {
  transport: TrunkTransport;
  address: string;
  port: number;
}

export interface Resolver {
  lookup(host: string): Promise<string[]>;
  srv(name: string): Promise<{ name: string; port: number; priority: number; weight: number }[]>;
}

export const systemResolver: Resolver = {
  lookup: async (host) => (await lookup(host, { all: true })).map((a) => a.address),
  srv: (name) => resolveSrv(name),
};

/** How a target is named in logs and the API. */
export function targetName(t: Target): string {
  return `${t.transport}:${t.address}:${t.port}`;
}

/**
 * The provider's domain as our requests name it (Request-URI, From, To): its host, with
 * the fixed port when the host is a literal address and no outbound proxy stands between.
 */
export function trunkDomain(t: Trunk): string {
  const literal = isIP(t.host);
  const host = literal === 6 ? `[${t.host}]` : t.host;
  return literal && t.port && !t.outboundProxy ? `${host}:${t.port}` : host;
}

/** A final status that blames the provider, not the call (a timeout, a 5xx): the next target or trunk may do better. A 6xx is the callee's final word (RFC 3261 §21.6): never retried elsewhere. */
export function providerFault(status: number): boolean {
  return status === 408 || (status >= 500 && status < 600);
}

/** A flow to the target: UDP from our listener, or a TCP/TLS connection that checks the provider's certificate against its name. */
export async function flowToTarget(stack: SipStack, trunk: Trunk, target: Target): Promise<Flow | undefined> {
  if (target.transport === 'udp') return stack.transports.udpFlow(target.address, target.port);
  const tls = target.transport === 'tls' ? { rejectUnauthorized: true, servername: trunk.host } : undefined;
  return stack.transports.connect(target.transport, target.address, target.port, tls);
}

const defaultPort = (t: TrunkTransport) => (t === 'tls' ? 5061 : 5060);

export async function trunkTargets(trunk: Trunk, resolver: Resolver = systemResolver): Promise<Target[]> {
  const t = trunk.transport;
  const at = async (host: string, port: number): Promise<Target[]> => (isIP(host) ? [host] : await resolver.lookup(host)).map((address) => ({ transport: t, address, port }));
  if (trunk.outboundProxy) {
    const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(trunk.outboundProxy)!;
    return at(m[1]!.replace(/^\[|\]$/g, ''), m[2] ? Number(m[2]) : defaultPort(t));
  }
  if (isIP(trunk.host) || trunk.port !== null) return at(trunk.host, trunk.port ?? defaultPort(t));
  const service = t === 'tls' ? `_sips._tcp.${trunk.host}` : `_sip._${t}.${trunk.host}`;
  let records: Awaited<ReturnType<Resolver['srv']>> = [];
  try {
    records = await resolver.srv(service);
  } catch {
    // No SRV records: the host itself (§4.2).
  }
  if (records.length === 0) return at(trunk.host, defaultPort(t));
  const out: Target[] = [];
  for (const r of bySrvOrder(records)) {
    try {
      out.push(...(await at(r.name, r.port)));
    } catch {
      // A target that does not resolve is skipped; the others still serve.
    }
  }
  return out;
}

/** RFC 2782: lowest priority first; within one priority, a weighted random order. */
export function bySrvOrder<T extends { priority: number; weight: number }>(records: T[], random = Math.random): T[] {
  const out: T[] = [];
  const priorities = [...new Set(records.map((r) => r.priority))].sort((a, b) => a - b);
  for (const p of priorities) {
    const left = records.filter((r) => r.priority === p);
    while (left.length > 0) {
      const total = left.reduce((a, r) => a + r.weight, 0);
      let pick = random() * total;
      let i = left.findIndex((r) => (pick -= r.weight) < 0);
      if (i < 0) i = 0;
      out.push(left.splice(i, 1)[0]!);
    }
  }
  return out;
}
