// SIP over every transport the server offers: UDP on IPv6 as well as IPv4 (dual-stack
// '::'), TCP, TLS and secure WebSocket (RFC 7118, subprotocol "sip"), and the HTTPS API,
// all with a self-signed certificate made by `pbx cert self-signed --apply` and
// validated against it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { get as httpsGet, request as httpsRequest } from 'node:https';
import { createSocket } from 'node:dgram';
import { connect as tlsConnect } from 'node:tls';
import WebSocket from 'ws';
import { createToken, freePort, freeSipPort, runCli, RunningServer, tempDir, writeConfig } from '../helpers/server.ts';
import { getFrom } from '../helpers/http-digest.ts';

const dir = tempDir();
let server: RunningServer;
let sipPort: number;
let tlsPort: number;
let wsPort: number;
let apiPort: number;
let ca: Buffer;
let token: string;

before(async () => {
  sipPort = await freeSipPort();
  tlsPort = await freePort();
  wsPort = await freePort();
  const port = await freePort();
  const file = writeConfig(dir, { port, sipPort });
  const made = await runCli(['cert', 'self-signed', '--apply', '--name', 'pbx.lab', '--config', file]);
  assert.equal(made.code, 0, made.stderr);
  ca = readFileSync(made.stdout.trim().split('\n').pop()!);
  const applied = readFileSync(file, 'utf8');
  assert.match(applied, /enabled: true/);
  assert.match(applied, /sip_tls_port: 5061/, '--apply turned SIP over TLS on');
  // Free ports for this run, dual-stack SIP, and WebSocket (WSS, since HTTPS is on).
  writeFileSync(
    file,
    applied
      .replace('sip_tls_port: 5061', `sip_tls_port: ${tlsPort}\n  sip_ws_port: ${wsPort}`)
      .replace('  sip_host: 127.0.0.1\n', '  sip_host: "::"\n')
      .replace('provisioning:\n', 'provisioning:\n  auth:\n    first_fetch_minutes: 0\n'),
  );
  token = await createToken(file);
  server = await RunningServer.start(file, port);
  apiPort = port;
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

test('HTTPS API with the certificate', async () => {
  const status = await new Promise<number>((ok, fail) =>
    httpsGet({ host: '127.0.0.1', port: apiPort, path: '/health', ca }, (res) => (res.resume(), ok(res.statusCode ?? 0))).on('error', fail),
  );
  assert.equal(status, 200);
});

test('TLS: OPTIONS over a TLS connection, the certificate validated for 127.0.0.1', async () => {
  const sock = tlsConnect({ host: '127.0.0.1', port: tlsPort, ca });
  await new Promise((r) => sock.once('secureConnect', r));
  let data = '';
  sock.on('data', (d) => (data += d));
  sock.write(options(`SIP/2.0/TLS 127.0.0.1:${sock.localPort}`, `sips:127.0.0.1:${tlsPort}`));
  const deadline = Date.now() + 3000;
  while (!data.includes('\r\n\r\n') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.match(data, /^SIP\/2\.0 200 OK/);
  assert.ok(sock.authorized, 'validated against the certificate pbx made');
  assert.match(sock.getPeerCertificate().subjectaltname!, /IP Address:127\.0\.0\.1.*DNS:pbx\.lab/);
  sock.destroy();
});

test('secure WebSocket: subprotocol "sip", REGISTER is challenged over the socket', async () => {
  const ws = new WebSocket(`wss://127.0.0.1:${wsPort}`, 'sip', { ca });
  await new Promise((ok, fail) => (ws.once('open', ok), ws.once('error', fail)));
  assert.equal(ws.protocol, 'sip');
  const reply = new Promise<string>((ok) => ws.once('message', (m) => ok(m.toString())));
  ws.send(
    `REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKws1;rport\r\nMax-Forwards: 70\r\nFrom: <sip:1001@127.0.0.1>;tag=w1\r\nTo: <sip:1001@127.0.0.1>\r\nCall-ID: ws-1\r\nCSeq: 1 REGISTER\r\nContact: <sip:x@df7jal23ls0d.invalid;transport=wss>\r\nExpires: 60\r\nContent-Length: 0\r\n\r\n`,
  );
  const text = await reply;
  assert.match(text, /^SIP\/2\.0 401 Unauthorized/);
  assert.match(text, /;received=127\.0\.0\.1/, 'RFC 7118: the Via gets the real source');
  ws.close();
  const refused = new WebSocket(`wss://127.0.0.1:${wsPort}`, 'chat', { ca });
  const err = await new Promise((ok) => (refused.once('error', ok), refused.once('open', () => ok(null))));
  assert.ok(err, 'a connection without the sip subprotocol is refused');
});

test('provisioning over HTTPS: a device on the https listener gets https URLs and may use basic auth', async () => {
  const api = (method: string, path: string, body?: unknown) =>
    new Promise<{ status: number; json: any }>((ok, fail) => {
      const data = body === undefined ? undefined : JSON.stringify(body);
      const req = httpsRequest(
        { host: '127.0.0.1', port: apiPort, path, method, ca, headers: { authorization: `Bearer ${token}`, ...(data ? { 'content-type': 'application/json' } : {}) } },
        (res) => {
          let text = '';
          res.on('data', (d) => (text += d));
          res.on('end', () => ok({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : undefined }));
        },
      );
      req.on('error', fail);
      req.end(data);
    });
  assert.equal((await api('POST', '/api/extensions', { number: '6001' })).status, 201);
  const plain = await api('POST', '/api/provisioning/devices', { mac_address: '001565aa0001', extension_number: '6001', vendor: 'yealink', model: 'T46S', listener: 'http' });
  assert.equal(plain.status, 400, 'no plain-HTTP listener here');
  assert.equal(plain.json.field, 'listener');
  const dev = await api('POST', '/api/provisioning/devices', { mac_address: '001565aa0001', extension_number: '6001', vendor: 'yealink', model: 'T46S', listener: 'https' });
  assert.equal(dev.status, 201);
  assert.equal(dev.json.config_url, `https://127.0.0.1:${apiPort}/provision/001565aa0001.cfg`);

  const path = '/provision/001565aa0001.cfg';
  const challenged = await getFrom({ port: apiPort, path, https: true, ca: ca.toString() });
  assert.equal(challenged.status, 401);
  assert.match(String(challenged.headers['www-authenticate']), /Basic realm="pbx-provisioning"/, 'basic is offered over TLS');
  const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
  const wrong = await getFrom({ port: apiPort, path, https: true, ca: ca.toString(), headers: { authorization: basic('001565aa0001', 'NotThePassword1') } });
  assert.equal(wrong.status, 401);
  const ok = await getFrom({ port: apiPort, path, https: true, ca: ca.toString(), headers: { authorization: basic(dev.json.provisioning_username, dev.json.provisioning_password) } });
  assert.equal(ok.status, 200);
  assert.match(ok.body, new RegExp(`static\\.auto_provision\\.server\\.url = https://127\\.0\\.0\\.1:${apiPort}/provision/`), 'the file keeps the phone on HTTPS');
});
