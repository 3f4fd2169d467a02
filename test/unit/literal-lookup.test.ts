// The lookup every SIP and RTP socket runs for each datagram it sends: an address literal
// must be answered before the call returns (no tick per datagram), a name still resolved.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { literalLookup } from '../../src/util/net.ts';

test('an address literal is answered at once, with its family', () => {
  for (const [address, family, asked] of [
    ['192.0.2.10', 4, 4],
    ['2001:db8::5', 6, 6],
    ['::ffff:192.0.2.10', 6, 6],
  ] as const) {
    let answered: unknown[] | undefined;
    literalLookup(address, asked, (...args) => (answered = args));
    assert.deepEqual(answered, [null, address, family], `${address} answered before the call returned`);
  }
});

test('a name is resolved (later, by dns.lookup) in the family the socket asked for', async () => {
  let sync = true;
  const result = await new Promise<unknown[]>((resolve) => {
    literalLookup('localhost', 4, (...args) => resolve([sync, ...args]));
    sync = false;
  });
  assert.deepEqual(result, [false, null, '127.0.0.1', 4]);
});

test('a socket with it sends to a literal and to a name', async () => {
  const rx = createSocket('udp4');
  await new Promise<void>((ok) => rx.bind(0, '127.0.0.1', () => ok()));
  const got: string[] = [];
  const both = new Promise<void>((ok) => rx.on('message', (m) => got.push(String(m)) === 2 && ok()));
  const tx = createSocket({ type: 'udp4', lookup: literalLookup });
  tx.send('literal', rx.address().port, '127.0.0.1');
  tx.send('name', rx.address().port, 'localhost');
  await both;
  assert.deepEqual(got.sort(), ['literal', 'name']);
  tx.close();
  rx.close();
});
