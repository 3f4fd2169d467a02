// Keeps NAT bindings of UDP phones open by sending each one an OPTIONS every
// `sip.keepalive_seconds` (Kamailio nathelper's "natping"). Answers are not needed:
// the packet itself refreshes the NAT mapping; replies arrive as stray responses.
import { outOfDialogRequest } from '../sip/requests.js';
import type { SipStack } from '../sip/stack.js';
import { flowToBinding } from './reach.js';
import { formatHost } from '../sip/uri.js';
import type { Location } from './location.js';

export class NatKeepalive {
  private timer: NodeJS.Timeout | undefined;
  private seq = 1;

  constructor(
    private readonly stack: SipStack,
    private readonly location: Location,
    private readonly self: () => { host: string; port: number; intervalSeconds: number },
  ) {}

  start(): void {
    const tick = () => {
      const { intervalSeconds } = this.self();
      if (intervalSeconds > 0) this.pingAll();
      this.timer = setTimeout(tick, Math.max(intervalSeconds, 5) * 1000);
      this.timer.unref();
    };
    tick();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
  }

  /** One OPTIONS to each UDP binding behind NAT; returns how many were sent. */
  pingAll(): number {
    const { host, port } = this.self();
    let sent = 0;
    for (const b of this.location.all()) {
      if (b.transport !== 'udp' || !b.behindNat) continue;
      const flow = flowToBinding(this.stack, b);
      if (!flow) continue;
      const n = this.seq++;
      const req = outOfDialogRequest({
        method: 'OPTIONS',
        uri: b.contact,
        from: `sip:keepalive@${formatHost(host)}`,
        fromTag: `ka${n}`,
        via: { transport: 'udp', host, port },
        callId: `keepalive-${n}@${host}`,
        cseq: n,
      });
      if (this.stack.sendStateless(req, flow)) sent++;
    }
    return sent;
  }
}
