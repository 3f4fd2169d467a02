// UDP ports for media: an even RTP port and the RTCP port above it (RFC 3550 §11)
// from a configured range, bound on the configured address. Ports are handed out
// round the range rather than lowest first, so a port freed by one call is not given
// straight to the next, whose phone might still get the old call's packets.
import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { literalLookup } from '../util/net.js';

export interface PortRange {
  /** Address to bind (0.0.0.0 or :: for all). */
  address: string;
  min: number;
  max: number;
  /** Only every `count`-th pair, starting at the `index`-th (pools on several threads share a range). */
  slice?: { index: number; count: number };
}

export interface MediaPorts {
  rtp: Socket;
  rtcp: Socket;
  port: number;
}

export class MediaPortsExhausted extends Error {
  constructor(range: PortRange) {
    super(`No free media port pair left in ${range.min}-${range.max} on ${range.address}`);
    this.name = 'MediaPortsExhausted';
  }
}

export class PortPool {
  private next = -1;
  private readonly inUse = new Set<number>();

  constructor(private readonly range: () => PortRange) {}

  get used(): number {
    return this.inUse.size;
  }

  /** Binds the next free pair; throws MediaPortsExhausted when every pair is taken. */
  async open(): Promise<MediaPorts> {
    const r = this.range();
    const slice = r.slice ?? { index: 0, count: 1 };
    const first = r.min + (r.min & 1) + 2 * slice.index;
    const step = 2 * slice.count;
    const pairs = Math.floor((r.max - 1 - first + step) / step);
    if (pairs <= 0) throw new MediaPortsExhausted(r);
    if (this.next < first || this.next > r.max - 1 || (this.next - first) % step !== 0) this.next = first;
    for (let tried = 0; tried < pairs; tried++) {
      const port = this.next;
      this.next = port + step > r.max - 1 ? first : port + step;
      if (this.inUse.has(port)) continue;
      const pair = await bindPair(r.address, port);
      if (!pair) continue;
      this.inUse.add(port);
      return pair;
    }
    throw new MediaPortsExhausted(r);
  }

  release(ports: MediaPorts): void {
    if (!this.inUse.delete(ports.port)) return;
    for (const s of [ports.rtp, ports.rtcp]) {
      try {
        s.close();
      } catch {
        /* already closed */
      }
    }
  }
}

async function bindPair(address: string, port: number): Promise<MediaPorts | null> {
  const rtp = await bind(address, port);
  if (!rtp) return null;
  const rtcp = await bind(address, port + 1);
  if (!rtcp) {
    rtp.close();
    return null;
  }
  return { rtp, rtcp, port };
}

function bind(address: string, port: number): Promise<Socket | null> {
  return new Promise((resolve) => {
    const s = createSocket({ type: isIPv6(address) ? 'udp6' : 'udp4', ipv6Only: isIPv6(address) && address !== '::', lookup: literalLookup });
    const fail = () => {
      s.close();
      resolve(null);
    };
    s.once('error', fail);
    s.bind(port, address, () => {
      s.off('error', fail);
      resolve(s);
    });
  });
}
