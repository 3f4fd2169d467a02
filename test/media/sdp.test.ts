// SDP offer/answer (RFC 3264) on offers as real phones write them.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import sdpTransform from 'sdp-transform';
import { answer, answerDirection, negotiate, offer, parseRemoteAudio, SdpError } from '../../src/media/sdp.ts';
import { PCMA, PCMU } from '../../src/media/g711.ts';

const crlf = (s: string) => s.trim().split('\n').map((l) => l.trim()).join('\r\n') + '\r\n';

// As baresip 1.x sends it (opus first, then G.711, telephone-event on 101).
const BARESIP = crlf(`
  v=0
  o=- 1185706232 1633466329 IN IP4 192.0.2.10
  s=-
  c=IN IP4 192.0.2.10
  t=0 0
  m=audio 10000 RTP/AVP 96 0 8 101
  b=AS:64
  a=rtpmap:96 opus/48000/2
  a=fmtp:96 stereo=1;sprop-stereo=1
  a=rtpmap:0 PCMU/8000
  a=rtpmap:8 PCMA/8000
  a=rtpmap:101 telephone-event/8000
  a=fmtp:101 0-15
  a=sendrecv
  a=rtcp-mux
`);

// As a Yealink T4x sends it: PCMA preferred, static types without rtpmap for some, video rejected later.
const YEALINK = crlf(`
  v=0
  o=- 20001 20001 IN IP4 10.0.0.23
  s=SDP data
  c=IN IP4 10.0.0.23
  t=0 0
  m=audio 11800 RTP/AVP 8 0 9 18 102
  a=rtpmap:102 telephone-event/8000
  a=fmtp:102 0-15
  a=ptime:20
  a=sendrecv
  m=video 11802 RTP/AVP 99
  a=rtpmap:99 H264/90000
`);

describe('SDP offer/answer', () => {
  test('baresip: G.711 chosen in the offerer order (PCMU), its telephone-event and rtcp-mux kept', () => {
    const remote = parseRemoteAudio(BARESIP);
    assert.equal(remote.address, '192.0.2.10');
    assert.equal(remote.port, 10000);
    assert.equal(remote.rtcpMux, true);
    assert.equal(remote.rtcpPort, null);
    const n = negotiate(remote);
    assert.equal(n.codec, PCMU);
    assert.equal(n.telephoneEvent, 101);
    const a = sdpTransform.parse(answer({ sessionId: 42, sessionVersion: 1, address: '198.51.100.7', port: 30000 }, n));
    assert.equal(a.media.length, 1);
    assert.equal(a.media[0]!.port, 30000);
    assert.equal(String(a.media[0]!.payloads), '0 101');
    assert.equal(a.media[0]!.direction, 'sendrecv');
    assert.ok(a.media[0]!.rtcpMux, 'rtcp-mux answered');
    assert.equal(a.connection!.ip, '198.51.100.7');
  });

  test('Yealink: PCMA preferred, static payload types understood, the video stream rejected with port 0', () => {
    const n = negotiate(parseRemoteAudio(YEALINK));
    assert.equal(n.codec, PCMA);
    assert.equal(n.payloadType, 8);
    assert.equal(n.telephoneEvent, 102);
    assert.equal(n.remote.rtcpPort, 11801);
    const a = sdpTransform.parse(answer({ sessionId: 1, sessionVersion: 1, address: '10.0.0.1', port: 30002 }, n));
    assert.equal(a.media.length, 2, 'one m-line per offered m-line (RFC 3264 §6)');
    assert.equal(a.media[1]!.type, 'video');
    assert.equal(a.media[1]!.port, 0);
    assert.equal(String(a.media[0]!.payloads), '8 102');
  });

  test('only PCMA offered and only PCMU supported: 488 naming both; malformed SDP: 400', () => {
    const pcmaOnly = YEALINK.replace('RTP/AVP 8 0 9 18 102', 'RTP/AVP 8 102');
    assert.throws(() => negotiate(parseRemoteAudio(pcmaOnly), [PCMU]), (e: Error) => e instanceof SdpError && e.status === 488 && /offered PCMA, telephone-event; supported PCMU/.test(e.message));
    const g729 = YEALINK.replace('RTP/AVP 8 0 9 18 102', 'RTP/AVP 18');
    assert.throws(() => negotiate(parseRemoteAudio(g729)), (e: Error) => e instanceof SdpError && e.status === 488);
    for (const bad of ['hello', BARESIP.replace(/c=IN IP4 192.0.2.10\r\n/, ''), BARESIP.replace('m=audio 10000', 'm=audio 99999'), BARESIP.replace('96 0 8 101', '96 zero 8')]) {
      assert.throws(() => parseRemoteAudio(bad), (e: Error) => e instanceof SdpError && e.status === 400, bad.slice(0, 60));
    }
    assert.throws(() => parseRemoteAudio(YEALINK.replace('m=audio 11800', 'm=audio 0')), (e: Error) => e instanceof SdpError && e.status === 488, 'no audio left');
  });

  test('hold: sendonly is answered recvonly, and c=0.0.0.0 counts as sendonly (RFC 3264 §8.4)', () => {
    assert.equal(answerDirection('sendonly'), 'recvonly');
    assert.equal(answerDirection('recvonly'), 'sendonly');
    assert.equal(answerDirection('inactive'), 'inactive');
    assert.equal(answerDirection('sendrecv', 'recvonly'), 'recvonly');
    const held = parseRemoteAudio(BARESIP.replace(/192\.0\.2\.10/g, '0.0.0.0'));
    assert.equal(held.direction, 'sendonly');
  });

  test('our offer lists our codecs and telephone-event, and parses as an offer', () => {
    const o = parseRemoteAudio(offer({ sessionId: 7, sessionVersion: 1, address: '2001:db8::1', port: 30004 }));
    assert.equal(o.address, '2001:db8::1');
    assert.deepEqual(o.formats.map((f) => f.encoding), ['PCMU', 'PCMA', 'telephone-event']);
  });
});
