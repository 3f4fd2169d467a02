// Which process handles a datagram read from the shared SIP UDP port. REGISTERs are
// spread over every process in rotation by their source (address and port): a phone
// registers from one socket, so its challenge, its answer and its refreshes meet the
// same process (the nonce it answers was issued there, its CSeq checked there), and so
// do one source's floods, failed passwords and scanner packets (the flood guard counts
// them where they arrive). From an edge proxy, every phone has the edge's source: its
// REGISTERs are spread by Call-ID instead (a phone keeps it across registrations).
// Everything else (calls, subscriptions, responses) belongs to the primary, which holds
// the transactions and dialogs. Each process runs the same rule, so a datagram is passed
// at most once.
import { callIdHash, isRequestFor, sourceHash, type DatagramRelay } from '../../sip/datagram-relay.js';
import type { Flow } from '../../sip/transport.js';

export class Steering {
  /** Relay ports of the processes in rotation; index 0 is the primary. */
  private peers: number[] = [];
  /** This process's index in `peers` (-1: not in rotation yet, everything goes to the primary). */
  private index = -1;
  passed = 0;

  constructor(
    private readonly relay: DatagramRelay,
    private readonly selfPort: number,
    /** The edge proxies in front of this node. */
    private readonly isEdge: (address: string) => boolean,
  ) {}

  setPeers(peers: number[]): void {
    this.peers = peers;
    this.index = peers.indexOf(this.selfPort);
  }

  /** For Transports.steer: true when the datagram was passed to the process that owns it. */
  readonly steer = (datagram: Buffer, flow: Flow): boolean => {
    const owner = this.ownerOf(datagram, flow);
    if (owner === this.index || owner < 0) return false;
    this.passed++;
    this.relay.pass(this.peers[owner]!, flow.remoteAddress, flow.remotePort, flow.localPort, datagram);
    return true;
  };

  /** The index of the process that handles the datagram (-1: no process known, handle it here). */
  private ownerOf(datagram: Buffer, flow: Flow): number {
    const n = this.peers.length;
    if (n === 0) return -1;
    if (n === 1 || !isRequestFor(datagram, 'REGISTER')) return 0;
    const h = this.isEdge(flow.remoteAddress) ? callIdHash(datagram) : sourceHash(flow.remoteAddress, flow.remotePort);
    return h < 0 ? 0 : h % n;
  }
}
