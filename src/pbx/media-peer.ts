// What the pbx's media needs to know of a party from its SDP and its signalling: where to
// send, and who may send. Shared by the calls the pbx answers (service-agent) and the
// calls it bridges (trunks/b2bua).
import type { RemoteMedia } from '../media/engine.js';
import type { RemoteAudio } from '../media/sdp.js';
import type { Flow } from '../sip/transport.js';

/** Where the party's SDP says to send RTP (and RTCP, unless muxed). */
export function remoteMedia(r: RemoteAudio): RemoteMedia {
  return { address: r.address, port: r.port, rtcpPort: r.rtcpMux ? null : r.rtcpPort };
}

/** Who may send us its RTP: the SDP address, and the party's signalling address (a phone behind NAT). */
export function mediaSources(r: RemoteAudio, flow: Flow): string[] {
  return [...new Set([r.address, flow.remoteAddress])];
}
