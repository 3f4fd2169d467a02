// What the SIP layer keeps from one message for the next: parsed URIs by their text, and
// one UDP flow per source. Both are bounded, and neither may change what a message means.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { parseUri } from '../../src/sip/uri.ts';
import { parseMessage } from '../../src/sip/parser.ts';
import { SipParseError } from '../../src/sip/errors.ts';
import { Transports, type Flow } from '../../src/sip/transport.ts';
import type { SipRequest } from '../../src/sip/message.ts';

test('a URI seen again is the same parsed value; a bad one is refused every time', () => {
  const first = parseUri('sip:alice@Example.COM:5070;transport=TCP;lr');
  assert.equal(first.user, 'alice');
  assert.equal(first.host, 'example.com');
  assert.equal(first.port, 5070);
  assert.deepEqual([...first.params], [['transport', 'TCP'], ['lr', '']]);
  assert.equal(parseUri('sip:alice@Example.COM:5070;transport=TCP;lr'), first);
  // Another text is another URI, however alike.
  assert.notEqual(parseUri('sip:alice@example.com:5070;transport=TCP;lr'), first);
  for (let i = 0; i < 2; i++) {
    assert.throws(() => parseUri('sip:alice@exa mple.com', 'Contact'), (err: unknown) => err instanceof SipParseError && /Contact contains whitespace/.test(err.message));
    assert.throws(() => parseUri('sip:alice@example.com:99999', 'To URI'), (err: unknown) => err instanceof SipParseError && /To URI has an invalid port "99999"/.test(err.message));
  }
});

test('a URI is parsed from its text as given, whatever its characters', () => {
  // Contacts read back from the database are JavaScript strings, not bytes off the wire.
  const uri = parseUri('sip:\u4e2d\u00fc@example.com');
  assert.equal(uri.user, '\u4e2d\u00fc');
  assert.equal(parseUri('sip:\u4e2d\u00fc@example.com'), uri);
});

test('the parsed-URI cache is bounded: thousands of distinct URIs push the oldest out', () => {
  const first = parseUri('sip:bounded-first@example.com');
  for (let i = 0; i < 5000; i++) parseUri(`sip:u${i}@example.com`);
  const again = parseUri('sip:bounded-first@example.com');
  assert.notEqual(again, first);
  assert.deepEqual(again, first);
});

test('messages sharing URIs keep their own headers and values', () => {
  const invite = (tag: string, cseq: number) =>
    Buffer.from(
      `INVITE sip:200@10.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK${tag}\r\nFrom: <sip:100@10.0.0.1>;tag=${tag}\r\n` +
        `To: <sip:200@10.0.0.1>\r\nCall-ID: ${tag}@x\r\nCSeq: ${cseq} INVITE\r\nContact: <sip:100@10.0.0.2:5060>\r\nContent-Length: 0\r\n\r\n`,
    );
  const a = parseMessage(invite('aaa', 1)) as SipRequest;
  const b = parseMessage(invite('bbb', 2)) as SipRequest;
  assert.equal(a.requestUri, b.requestUri);
  assert.equal(a.from.uri, b.from.uri);
  assert.equal(a.from.params.get('tag'), 'aaa');
  assert.equal(b.from.params.get('tag'), 'bbb');
  assert.equal(a.cseq.seq, 1);
  assert.equal(b.cseq.seq, 2);
});

test('a UDP socket keeps one flow per source address and port', async () => {
  const seen: Flow[] = [];
  let arrived: () => void = () => undefined;
  const transports = new Transports({
    message: (_m, flow) => {
      seen.push(flow);
      arrived();
    },
    parseError: () => undefined,
  });
  await transports.listen([{ transport: 'udp', host: '127.0.0.1', port: 0 }]);
  const port = transports.bound[0]!.port;
  const phones = [createSocket('udp4'), createSocket('udp4')];
  try {
    for (const p of phones) await new Promise<void>((ok) => p.bind(0, '127.0.0.1', () => ok()));
    const options = (i: number) => Buffer.from(`OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKr${i}\r\nFrom: <sip:a@127.0.0.1>;tag=${i}\r\nTo: <sip:127.0.0.1>\r\nCall-ID: r${i}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`);
    const send = (phone: number, i: number) =>
      new Promise<void>((ok) => {
        arrived = ok;
        phones[phone]!.send(options(i), port, '127.0.0.1');
      });
    await send(0, 1);
    await send(0, 2);
    await send(1, 3);
    assert.equal(seen.length, 3);
    assert.equal(seen[1], seen[0], 'the same source: the same flow');
    assert.notEqual(seen[2], seen[0], 'another port: another flow');
    assert.equal(seen[0]!.remotePort, phones[0]!.address().port);
    assert.equal(seen[2]!.remotePort, phones[1]!.address().port);
    assert.notEqual(seen[2]!.id, seen[0]!.id);
    // A flow the server opens to a phone is the one its datagrams arrive on.
    assert.equal(transports.udpFlow('127.0.0.1', phones[0]!.address().port), seen[0]);
  } finally {
    for (const p of phones) p.close();
    await transports.close();
  }
});
