// A call between phones whose media goes through the pbx (media.anchor: a party behind
// NAT, or always): the proxy still routes the signalling, but each SDP it passes on is
// rewritten to name a relay's port toward the party that receives it, and the relay
// follows the address each party's SDP (and its signalling) gives.
import type { MediaRelay } from '../media/engine.js';
import { parseRemoteAudio, relayedAudio } from '../media/sdp.js';
import { remoteMedia } from './media-peer.js';

export type AnchorSide = 'caller' | 'callee';

export class AnchoredMedia {
  private readonly sessionId = Math.floor(Math.random() * 1e9);
  private readonly versions = { a: 0, b: 0 };
  private closed = false;

  constructor(
    private readonly relay: MediaRelay,
    /** Our address in SDP toward each party (the LAN's for a phone on one). */
    private readonly addresses: { caller: string; callee: string },
  ) {}

  /**
   * The SDP `from` sent, as the other party must get it: the relay's port and our address.
   * The relay learns where `from` receives (and that it may send from `sender` too).
   * A body that is no usable audio SDP is passed on unchanged.
   */
  rewrite(from: AnchorSide, body: Buffer, sender: string): Buffer {
    if (body.length === 0 || this.closed) return body;
    let remote;
    try {
      remote = parseRemoteAudio(body.toString('utf8'));
    } catch {
      return body;
    }
    const side = from === 'caller' ? 'a' : 'b';
    const other = side === 'a' ? 'b' : 'a';
    this.relay.update(side, remoteMedia(remote), [...new Set([remote.address, sender])]);
    const address = this.relay.address ?? (from === 'caller' ? this.addresses.callee : this.addresses.caller);
    return Buffer.from(relayedAudio(remote, { sessionId: this.sessionId, sessionVersion: ++this.versions[other], address, port: this.relay.ports[other] }, () => true, true));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    void this.relay.close();
  }
}
