// SIP over every transport the server offers: UDP on IPv6 as well as IPv4 (dual-stack
// '::'), TCP, TLS (self-signed certificate) and WebSocket (RFC 7118, subprotocol "sip").
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import WebSocket from 'ws';
import { freePort, freeSipPort, RunningServer, tempDir, writeConfig } from '../helpers/server.ts';

const dir = tempDir();
let server: RunningServer;
let sipPort: number;
let tlsPort: number;
let wsPort: number;

before(async () => {
  sipPort = await freeSipPort();
  tlsPort = await freePort();
  wsPort = await freePort();
  const port = await freePort();
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
  const file = writeConfig(dir, { port, sipPort });
  // Dual-stack SIP listeners, TLS and WS, on top of the usual test config.
  const { readFileSync, writeFileSync } = await import('node:fs');
  const text = readFileSync(file, 'utf8')
    .replace('  sip_host: 127.0.0.1\n', `  sip_host: "::"\n  sip_tls_port: ${tlsPort}\n  sip_ws_port: ${wsPort}\n`)
    .replace('api:\n  host: 127.0.0.1\n', `api:\n  host: 127.0.0.1\n  ssl: { enabled: false, cert_file: cert.pem, key_file: key.pem }\n`);
  writeFileSync(file, text);
  server = await RunningServer.start(file, port);
});
after(async () => {
  await server?.stop();
});

const options = (via: string, target: string) =>
  `OPTIONS ${target} SIP/2.0\r\nVia: ${via};branch=z9hG4bK${Math.random().toString(36).slice(2)};rport\r\nMax-Forwards: 70\r\nFrom: <sip:probe@example.org>;tag=p1\r\nTo: <${target}>\r\nCall-ID: ${Math.random().toString(36).slice(2)}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`;

async function udpOptions(family: 'udp4' | 'udp6', host: string): Promise<string> {
  const sock = createSocket(family);
  await new Promise<void>((r) => sock.bind(0, host, () => r()));
  const reply = new Promise<string>((ok) => sock.once('message', (m) => ok(m.toString())));
  const hostRef = host.includes(':') ? `[${host}]` : host;
  sock.send(options(`SIP/2.0/UDP ${hostRef}:${sock.address().port}`, `sip:${hostRef}:${sipPort}`), sipPort, host);
  const text = await Promise.race([reply, new Promise<string>((_, f) => setTimeout(() => f(new Error(`no UDP answer on ${host}`)), 3000))]);
  sock.close();
  return text;
}

test('UDP over IPv4 and IPv6 on a dual-stack listener', async () => {
  assert.match(await udpOptions('udp4', '127.0.0.1'), /^SIP\/2\.0 200 OK/);
  assert.match(await udpOptions('udp6', '::1'), /^SIP\/2\.0 200 OK/);
});

test('TLS: OPTIONS over a TLS connection with the self-signed certificate', async () => {
  const sock = tlsConnect({ host: '127.0.0.1', port: tlsPort, rejectUnauthorized: false });
  await new Promise((r) => sock.once('secureConnect', r));
  let data = '';
  sock.on('data', (d) => (data += d));
  sock.write(options(`SIP/2.0/TLS 127.0.0.1:${sock.localPort}`, `sips:127.0.0.1:${tlsPort}`));
  const deadline = Date.now() + 3000;
  while (!data.includes('\r\n\r\n') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.match(data, /^SIP\/2\.0 200 OK/);
  assert.equal(sock.getPeerCertificate().subject.CN, '127.0.0.1');
  sock.destroy();
});

test('WebSocket: subprotocol "sip", REGISTER is challenged over the socket', async () => {
  const ws = new WebSocket(`ws://127.0.0.1:${wsPort}`, 'sip');
  await new Promise((ok, fail) => (ws.once('open', ok), ws.once('error', fail)));
  assert.equal(ws.protocol, 'sip');
  const reply = new Promise<string>((ok) => ws.once('message', (m) => ok(m.toString())));
  ws.send(
    `REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bKws1;rport\r\nMax-Forwards: 70\r\nFrom: <sip:1001@127.0.0.1>;tag=w1\r\nTo: <sip:1001@127.0.0.1>\r\nCall-ID: ws-1\r\nCSeq: 1 REGISTER\r\nContact: <sip:x@df7jal23ls0d.invalid;transport=ws>\r\nExpires: 60\r\nContent-Length: 0\r\n\r\n`,
  );
  const text = await reply;
  assert.match(text, /^SIP\/2\.0 401 Unauthorized/);
  assert.match(text, /;received=127\.0\.0\.1/, 'RFC 7118: the Via gets the real source');
  ws.close();
  const refused = new WebSocket(`ws://127.0.0.1:${wsPort}`, 'chat');
  const err = await new Promise((ok) => (refused.once('error', ok), refused.once('open', () => ok(null))));
  assert.ok(err, 'a connection without the sip subprotocol is refused');
});
