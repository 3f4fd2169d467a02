// Which new requests get a transaction at all: the flood guard's count and bans, and
// scanners, for the phone behind an edge proxy as for one that sends directly. Shared by
// the SIP service and the SIP worker processes' registrar.
import { makeResponse, type SipRequest } from '../sip/message.js';
import type { SipStack } from '../sip/stack.js';
import type { Flow } from '../sip/transport.js';
import { SCANNER_UA, type FloodGuard } from './flood-guard.js';

export interface AdmissionDeps {
  stack: SipStack;
  guard: FloodGuard;
  /** The edge proxies in front of this node: where a request really comes from (the phone behind one). */
  edges?: { has(ip: string): boolean; clientOf(req: SipRequest, flow: Flow): string };
  /** A provider's address: its traffic is not flood-limited (a busy trunk is no flood). */
  isTrunkAddress(ip: string): boolean;
}

export class Admission {
  constructor(private readonly d: AdmissionDeps) {}

  /** Before the stack makes a transaction: floods and scanners are dropped without one. */
  admit(req: SipRequest, flow: Flow): boolean {
    if (this.d.isTrunkAddress(flow.remoteAddress)) return true;
    const edge = this.d.edges?.has(flow.remoteAddress) === true;
    const ip = edge ? this.d.edges!.clientOf(req, flow) : flow.remoteAddress;
    // The edge's own requests (its OPTIONS probes) are never limited.
    if (edge && ip === flow.remoteAddress) return true;
    // Behind an edge the transport let the packet in: the phone's own ban is checked here.
    if ((edge && !this.d.guard.admit(ip)) || !this.d.guard.request(ip, flow.reliable)) return this.refuse(req, flow, edge, 'Forbidden: banned');
    const ua = req.get('user-agent');
    if (ua && SCANNER_UA.test(ua)) {
      // Scanners get no answer at all: nothing to learn (the guard decides on a ban).
      this.d.guard.scanner(ip, ua, flow.reliable);
      return this.refuse(req, flow, edge, 'Forbidden');
    }
    return true;
  }

  /**
   * A refused request is dropped without a word, unless an edge proxy brought it: an edge
   * that hears nothing takes this node for dead and stops sending it anyone's calls.
   */
  private refuse(req: SipRequest, flow: Flow, edge: boolean, reason: string): false {
    if (edge && req.method !== 'ACK') this.d.stack.sendStateless(makeResponse(req, 403, reason), flow);
    return false;
  }
}
