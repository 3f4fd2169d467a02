// What the plain TCP SIP port does with streams it cannot frame: a TLS ClientHello (a
// phone set to TLS but pointed at the TCP port) is closed at once with a log line that
// says so, instead of waiting for headers forever; a message larger than the server
// takes is answered 513 Message Too Large before the connection closes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { freePort, freeSipPort, RunningServer, tempDir, writeConfig } from '../helpers/server.ts';

const dir = tempDir();
let server: RunningServer;
let sipPort: number;

before(async () => {
  sipPort = await freeSipPort();
  const port = await freePort();
  server = await RunningServer.start(writeConfig(dir, { port, sipPort }), port);
});
after(async () => {
  await server?.stop();
});

/** Resolves with what the server sent and how long the connection stayed open. */
function closed(sock: Socket): Promise<{ data: string; ms: number }> {
  const t0 = Date.now();
  let data = '';
  sock.on('data', (d) => (data += d.toString('latin1')));
  return new Promise((ok) => sock.on('close', () => ok({ data, ms: Date.now() - t0 })));
}

test('a TLS ClientHello on the plain TCP port is closed within a second, and the log says why', { timeout: 15_000 }, async () => {
  const raw = connect(sipPort, '127.0.0.1');
  raw.on('error', () => {});
  await new Promise((r) => raw.once('connect', r));
  const result = closed(raw);
  // A real ClientHello, written by Node's TLS client onto our plain socket.
  const tls = tlsConnect({ socket: raw, servername: 'pbx.lab', rejectUnauthorized: false });
  tls.on('error', () => {});
  const { ms } = await result;
  assert.ok(ms < 1000, `closed after ${ms} ms`);
  await server.waitForLog(/TLS handshake received on the plain TCP SIP port \d+.*SIP over TLS is off/);
  // The server still serves SIP over TCP afterwards.
  const ok = connect(sipPort, '127.0.0.1');
  await new Promise((r) => ok.once('connect', r));
  const answered = new Promise<string>((res) => ok.once('data', (d) => res(d.toString('latin1'))));
  ok.write(`OPTIONS sip:127.0.0.1:${sipPort};transport=tcp SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:${ok.localPort};branch=z9hG4bKtcpok\r\nMax-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=p\r\nTo: <sip:127.0.0.1>\r\nCall-ID: tcp-ok\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`);
  assert.match(await answered, /^SIP\/2\.0 200 /);
  ok.destroy();
});

test('a message too large for the server gets 513 Message Too Large, then the connection closes', { timeout: 15_000 }, async () => {
  const sock = connect(sipPort, '127.0.0.1');
  await new Promise((r) => sock.once('connect', r));
  const result = closed(sock);
  const body = 'x'.repeat(70_000);
  sock.write(
    `MESSAGE sip:3001@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:${sock.localPort};branch=z9hG4bKbig1\r\nMax-Forwards: 70\r\n` +
      `From: <sip:3002@127.0.0.1>;tag=b\r\nTo: <sip:3001@127.0.0.1>\r\nCall-ID: too-big\r\nCSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
  );
  const { data, ms } = await result;
  assert.match(data, /^SIP\/2\.0 513 /, `answered: ${data.slice(0, 80)}`);
  assert.match(data, /Call-ID: too-big/i);
  assert.match(data, /CSeq: 1 MESSAGE/i);
  assert.ok(ms < 2000, `closed after ${ms} ms`);
});
