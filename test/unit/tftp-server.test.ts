// The TFTP server alone, over real UDP on 127.0.0.1: RFC 1350 transfers, RFC 2347–2349
// options, retransmission, refusals, foreign TIDs, garbage and clients that vanish.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { TftpServer, ERR, type TftpEvent, type TftpServerOptions } from '../../src/tftp/server.ts';
import { ack, exchange, parseError, rrq, tftpGet } from '../helpers/tftp-client.ts';

const FILES = new Map<string, Buffer>([
  ['small.cfg', Buffer.from('#!version:1.0.0.1\naccount.1.enable = 1\n')],
  ['three-blocks.bin', randomBytes(1300)],
  ['exact-1024.bin', randomBytes(1024)],
  ['empty.cfg', Buffer.alloc(0)],
  ['text.cfg', Buffer.from('a\nb\rc\r\nd')],
  ['big.bin', randomBytes(200_000)],
]);

const servers: TftpServer[] = [];
after(async () => {
  for (const s of servers) await s.close();
});

async function start(opts: Partial<TftpServerOptions> = {}, host = '127.0.0.1') {
  const events: TftpEvent[] = [];
  const server = new TftpServer({
    provider: (name) => {
      const body = FILES.get(name.replace(/^.*\//, ''));
      return body ? { status: 'ok', body } : { status: 'error', code: ERR.NOT_FOUND, message: 'File not found' };
    },
    // Slow enough that a loaded machine does not time a transfer out; tests of timeouts set their own.
    timeoutMs: 1000,
    retries: 3,
    onEvent: (e) => events.push(e),
    ...opts,
  });
  servers.push(server);
  const { port } = await server.listen(0, host);
  return { server, port, events };
}

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('RRQ without options: 512-byte blocks from a port of its own (TID), no OACK', async () => {
  const { server, port } = await start();
  const r = await tftpGet({ port, file: 'three-blocks.bin' });
  assert.equal(r.error, null);
  assert.equal(r.oack, null);
  assert.deepEqual(r.sizes, [512, 512, 276]);
  assert.ok(r.data.equals(FILES.get('three-blocks.bin')!));
  assert.notEqual(r.serverPort, port, 'the transfer runs on an ephemeral port');
  await until(() => server.active === 0);
  assert.equal(server.stats.completed, 1);
});

test('RRQ with options: OACK with blksize, tsize and timeout, then the file in blocks of that size', async () => {
  const { port, events } = await start();
  const r = await tftpGet({ port, file: '/provision/three-blocks.bin', options: { blksize: 1024, tsize: 0, timeout: 2, 'x-unknown': 'y' } });
  assert.equal(r.error, null);
  assert.deepEqual(r.oack, { blksize: '1024', tsize: '1300', timeout: '2' }, 'unknown options are not acknowledged');
  assert.deepEqual(r.sizes, [1024, 276]);
  assert.ok(r.data.equals(FILES.get('three-blocks.bin')!));
  await until(() => events.some((e) => e.type === 'complete'));
  const done = events.find((e) => e.type === 'complete') as Extract<TftpEvent, { type: 'complete' }>;
  assert.equal(done.blockSize, 1024);
  assert.equal(done.bytes, 1300);
});

test('blksize is capped at the server maximum; an invalid one or a timeout out of range is not acknowledged', async () => {
  const { port } = await start();
  const big = await tftpGet({ port, file: 'big.bin', options: { blksize: 65464, tsize: 0 } });
  assert.deepEqual(big.oack, { blksize: '1468', tsize: '200000' });
  assert.ok(big.data.equals(FILES.get('big.bin')!));
  assert.equal(big.sizes[0], 1468);

  const odd = await tftpGet({ port, file: 'small.cfg', options: { blksize: 4, timeout: 300, tsize: 0 } });
  assert.deepEqual(odd.oack, { tsize: String(FILES.get('small.cfg')!.length) });
  assert.ok(odd.data.equals(FILES.get('small.cfg')!));

  // A server allowed larger blocks grants what the client asks, up to 65464.
  const { port: port2 } = await start({ maxBlockSize: 65464 });
  const large = await tftpGet({ port: port2, file: 'big.bin', options: { blksize: 65464 } });
  assert.deepEqual(large.oack, { blksize: '65464' });
  assert.deepEqual(large.sizes, [65464, 65464, 65464, 200_000 - 3 * 65464]);
  assert.ok(large.data.equals(FILES.get('big.bin')!));
});

test('a file that is an exact multiple of the block size ends with an empty DATA; an empty file is one empty DATA', async () => {
  const { port } = await start();
  const r = await tftpGet({ port, file: 'exact-1024.bin' });
  assert.deepEqual(r.sizes, [512, 512, 0]);
  assert.ok(r.data.equals(FILES.get('exact-1024.bin')!));
  const r2 = await tftpGet({ port, file: 'exact-1024.bin', options: { blksize: 256 } });
  assert.deepEqual(r2.sizes, [256, 256, 256, 256, 0]);
  const e = await tftpGet({ port, file: 'empty.cfg' });
  assert.equal(e.error, null);
  assert.deepEqual(e.sizes, [0]);
});

test('netascii: LF becomes CR LF and a bare CR becomes CR NUL; tsize counts the bytes sent', async () => {
  const { port } = await start();
  const r = await tftpGet({ port, file: 'text.cfg', mode: 'NetASCII', options: { tsize: 0 } });
  const expected = Buffer.from('a\r\nb\r\0c\r\0\r\nd');
  assert.ok(r.data.equals(expected), JSON.stringify(r.data.toString('latin1')));
  assert.equal(r.oack?.['tsize'], String(expected.length));
});

test('a lost ACK: the server sends the block again after its timeout, and the file arrives whole', async () => {
  const { server, port } = await start({ timeoutMs: 80 });
  const r = await tftpGet({ port, file: 'three-blocks.bin', dropAck: (block, seen) => block === 2 && seen === 1 });
  assert.equal(r.error, null);
  assert.ok(r.data.equals(FILES.get('three-blocks.bin')!));
  assert.ok(server.stats.retransmits >= 1, `retransmits: ${server.stats.retransmits}`);
  // A lost ACK of the OACK is repeated the same way.
  const before = server.stats.retransmits;
  const r2 = await tftpGet({ port, file: 'small.cfg', options: { blksize: 1024 }, dropAck: (block, seen) => block === 0 && seen === 1 });
  assert.equal(r2.error, null);
  assert.ok(r2.data.equals(FILES.get('small.cfg')!));
  assert.ok(server.stats.retransmits >= before + 1, 'the OACK was sent again');
});

test('a duplicate ACK is not answered with a duplicate DATA (no Sorcerer’s Apprentice)', async () => {
  const { port } = await start({ timeoutMs: 1000 });
  const s = createSocket('udp4');
  await new Promise<void>((ok) => s.bind(0, '127.0.0.1', () => ok()));
  const got: { block: number; from: number }[] = [];
  s.on('message', (msg, rinfo) => {
    if (msg.readUInt16BE(0) === 3) got.push({ block: msg.readUInt16BE(2), from: rinfo.port });
  });
  s.send(rrq('three-blocks.bin'), port, '127.0.0.1');
  await until(() => got.length === 1);
  const tid = got[0]!.from;
  s.send(ack(1), tid, '127.0.0.1');
  await until(() => got.length === 2);
  s.send(ack(1), tid, '127.0.0.1'); // duplicate
  s.send(ack(1), tid, '127.0.0.1');
  await new Promise((r) => setTimeout(r, 150));
  assert.deepEqual(got.map((g) => g.block), [1, 2], 'no DATA for the duplicates');
  s.close();
});

test('an unknown file gets ERROR 1; a WRQ gets ERROR 2; mode mail gets ERROR 4', async () => {
  const { port, events } = await start();
  const r = await tftpGet({ port, file: 'nope.cfg' });
  assert.deepEqual(r.error, { code: 1, message: 'File not found' });
  const [w] = await exchange(port, rrq('upload.cfg', 'octet', {}, 2), { expect: 1 });
  assert.equal(parseError(w!.msg)?.code, ERR.ACCESS_VIOLATION);
  assert.match(parseError(w!.msg)!.message, /read-only/);
  const [m] = await exchange(port, rrq('small.cfg', 'mail'), { expect: 1 });
  assert.equal(parseError(m!.msg)?.code, ERR.ILLEGAL_OPERATION);
  assert.match(parseError(m!.msg)!.message, /mode "mail"/);
  assert.equal(events.filter((e) => e.type === 'refused').length, 3);
});

test('garbage never crashes the server: each malformed packet gets a clear ERROR 4, a stray ACK ERROR 5', async () => {
  const { server, port } = await start();
  const cases: [Buffer, number, RegExp][] = [
    [Buffer.from([0x01]), 4, /shorter than an opcode/],
    [Buffer.from([0, 1, 0x61, 0x62]), 4, /NUL-terminated/],
    [Buffer.from([0, 1, 0, 0x6f, 0]), 4, /empty file name/],
    [Buffer.from('\0\x01a\0octet\0blksize\0', 'latin1'), 4, /no value/],
    [Buffer.from([0, 1, 0x61, 0]), 4, /no transfer mode/],
    [Buffer.from([0, 9, 1, 2, 3]), 4, /unknown opcode 9/],
    [Buffer.from([0, 4, 0]), 4, /ACK of 3 bytes/],
    [ack(7), 5, /Unknown transfer ID/],
  ];
  for (const [packet, code, message] of cases) {
    const replies = await exchange(port, packet, { expect: 1 });
    assert.equal(replies.length, 1, `one answer to ${packet.toString('hex')}`);
    const err = parseError(replies[0]!.msg)!;
    assert.equal(err.code, code, packet.toString('hex'));
    assert.match(err.message, message);
  }
  // An ERROR is never answered; a zero-length datagram and random bytes are harmless.
  assert.deepEqual(await exchange(port, Buffer.from([0, 5, 0, 0, 0]), { waitMs: 60 }), []);
  const s = createSocket('udp4');
  await new Promise<void>((ok) => s.bind(0, '127.0.0.1', () => ok()));
  s.send(Buffer.alloc(0), port, '127.0.0.1');
  for (let i = 0; i < 500; i++) s.send(randomBytes(1 + (i % 700)), port, '127.0.0.1');
  await new Promise((r) => setTimeout(r, 200));
  s.close();
  const r = await tftpGet({ port, file: 'small.cfg' });
  assert.ok(r.data.equals(FILES.get('small.cfg')!), 'still serving');
  assert.ok(server.stats.malformed >= 7);
});

test('a packet from an unknown TID gets ERROR 5 and the transfer goes on; garbage from the client ends it with ERROR 4', async () => {
  const { port, events } = await start({ timeoutMs: 100, retries: 20 });
  const client = createSocket('udp4');
  await new Promise<void>((ok) => client.bind(0, '127.0.0.1', () => ok()));
  const data: Buffer[] = [];
  let tid = 0;
  client.on('message', (msg, rinfo) => {
    tid = rinfo.port;
    if (msg.readUInt16BE(0) === 3 && !data.some((d) => d.equals(msg))) data.push(msg);
  });
  client.send(rrq('three-blocks.bin'), port, '127.0.0.1');
  await until(() => data.length === 1);
  const [stranger] = await exchange(tid, ack(1), { expect: 1 });
  assert.equal(parseError(stranger!.msg)?.code, ERR.UNKNOWN_TID);
  assert.equal(stranger!.port, tid);
  for (const b of [1, 2, 3]) {
    client.send(ack(b), tid, '127.0.0.1');
    if (b < 3) await until(() => data.length === b + 1);
  }
  await until(() => events.some((e) => e.type === 'complete'));
  assert.equal(Buffer.concat(data.map((d) => d.subarray(4))).length, 1300);

  // Garbage from the client's own TID is an illegal operation: ERROR 4, transfer over.
  const errors: Buffer[] = [];
  data.length = 0;
  client.removeAllListeners('message');
  client.on('message', (msg, rinfo) => {
    tid = rinfo.port;
    if (msg.readUInt16BE(0) === 5) errors.push(msg);
    else data.push(msg);
  });
  client.send(rrq('three-blocks.bin'), port, '127.0.0.1');
  await until(() => data.length >= 1);
  client.send(Buffer.from([0, 42]), tid, '127.0.0.1');
  await until(() => errors.length === 1);
  assert.equal(parseError(errors[0]!)?.code, ERR.ILLEGAL_OPERATION);
  await until(() => events.some((e) => e.type === 'aborted'));
  client.close();
});

test('a client that vanishes: the block is sent again up to the retry limit, then the transfer is dropped', async () => {
  const { server, port, events } = await start({ timeoutMs: 50, retries: 3 });
  let received = 0;
  const c = createSocket('udp4');
  await new Promise<void>((ok) => c.bind(0, '127.0.0.1', () => ok()));
  c.on('message', () => received++);
  c.send(rrq('three-blocks.bin'), port, '127.0.0.1');
  await until(() => events.some((e) => e.type === 'timeout'), 2000);
  assert.equal(server.active, 0, 'cleaned up');
  await new Promise((r) => setTimeout(r, 120));
  assert.equal(received, 4, 'the first DATA and three retransmissions, nothing after');
  c.close();
  // And through the client helper, after the OACK.
  const r = await tftpGet({ port, file: 'three-blocks.bin', options: { blksize: 512 }, vanishAfter: 1, idleMs: 500 });
  assert.equal(r.timedOut, true);
  await until(() => events.filter((e) => e.type === 'timeout').length === 2, 2000);
  assert.equal(server.active, 0);
});

test('a retransmitted RRQ does not start a second transfer; the caps on transfers (all, per address) drop the excess', async () => {
  const { server, port, events } = await start({ timeoutMs: 1000, maxTransfers: 2 });
  const c = createSocket('udp4');
  await new Promise<void>((ok) => c.bind(0, '127.0.0.1', () => ok()));
  const tids = new Set<number>();
  c.on('message', (_m, rinfo) => tids.add(rinfo.port));
  c.send(rrq('small.cfg'), port, '127.0.0.1');
  c.send(rrq('small.cfg'), port, '127.0.0.1');
  await until(() => tids.size === 1);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(tids.size, 1, 'one transfer for the repeated RRQ');
  assert.equal(server.active, 1);
  const second = await exchange(port, rrq('small.cfg'), { expect: 1 }); // second transfer: allowed
  assert.equal(second.length, 1);
  const third = await exchange(port, rrq('small.cfg'), { waitMs: 100 });
  assert.equal(third.length, 0, 'over the cap: dropped, the client will retry');
  assert.equal(server.stats.busy, 1);
  assert.ok(events.some((e) => e.type === 'busy'));
  c.close();

  // One address may be held to fewer; another address still gets through.
  const { server: s2, port: p2 } = await start({ timeoutMs: 1000, maxPerAddress: 1 });
  assert.equal((await exchange(p2, rrq('small.cfg'), { expect: 1 })).length, 1);
  assert.equal((await exchange(p2, rrq('small.cfg'), { waitMs: 80 })).length, 0, 'a second one from 127.0.0.1 is dropped');
  assert.equal((await exchange(p2, rrq('small.cfg'), { expect: 1, localAddress: '127.0.0.2' })).length, 1, '127.0.0.2 is served');
  assert.equal(s2.stats.busy, 1);
});

test('a new RRQ from the port of a transfer that has made progress replaces it (a restarted client)', async () => {
  const { server, port, events } = await start({ timeoutMs: 1000 });
  const c = createSocket('udp4');
  await new Promise<void>((ok) => c.bind(0, '127.0.0.1', () => ok()));
  const got: { block: number; from: number }[] = [];
  c.on('message', (msg, rinfo) => got.push({ block: msg.readUInt16BE(2), from: rinfo.port }));
  c.send(rrq('three-blocks.bin'), port, '127.0.0.1');
  await until(() => got.length === 1);
  c.send(ack(1), got[0]!.from, '127.0.0.1');
  await until(() => got.length === 2);
  c.send(rrq('three-blocks.bin'), port, '127.0.0.1');
  await until(() => got.length === 3);
  assert.equal(got[2]!.block, 1, 'a fresh transfer starts at block 1');
  assert.notEqual(got[2]!.from, got[0]!.from, 'on a new port');
  assert.equal(server.active, 1, 'the old transfer is gone');
  assert.ok(events.some((e) => e.type === 'aborted' && /new request from the same port/.test(e.reason)));
  c.close();
});

test('a provider that throws or is slow: ERROR 0 or a late answer, never a crash', async () => {
  const { port, events } = await start({
    provider: async (name) => {
      if (name === 'throw') throw new Error('boom');
      await new Promise((r) => setTimeout(r, 50));
      return name === 'drop' ? { status: 'ignore' } : { status: 'ok', body: 'late\n' };
    },
  });
  const r = await tftpGet({ port, file: 'throw' });
  assert.deepEqual(r.error, { code: 0, message: 'Internal server error' });
  assert.ok(events.some((e) => e.type === 'error' && e.error.message === 'boom'));
  assert.equal((await tftpGet({ port, file: 'slow' })).data.toString(), 'late\n');
  assert.deepEqual(await exchange(port, rrq('drop'), { waitMs: 150 }), [], 'ignore: no answer at all');
});

test('more than 65535 blocks: block numbers roll over to 0 and the file arrives whole', async () => {
  const size = 65_540 * 8 + 3;
  const body = randomBytes(size);
  const { port } = await start({ provider: () => ({ status: 'ok', body }) });
  const t0 = Date.now();
  const r = await tftpGet({ port, file: 'huge', options: { blksize: 8 } });
  assert.equal(r.error, null);
  assert.equal(r.blocks, 65_541);
  assert.ok(r.data.equals(body));
  assert.ok(Date.now() - t0 < 20_000);
});

test('IPv6: a server on ::1 serves a client on ::1', async (t) => {
  let started;
  try {
    started = await start({}, '::1');
  } catch {
    t.skip('no IPv6 loopback here');
    return;
  }
  const r = await tftpGet({ host: '::1', port: started.port, file: 'three-blocks.bin', options: { tsize: 0 } });
  assert.equal(r.error, null);
  assert.ok(r.data.equals(FILES.get('three-blocks.bin')!));
  const dual = await start({}, '::');
  const r4 = await tftpGet({ host: '127.0.0.1', port: dual.port, file: 'small.cfg' });
  assert.ok(r4.data.equals(FILES.get('small.cfg')!), 'an IPv4 client of a dual-stack server');
});
