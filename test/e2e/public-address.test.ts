// server.external_ip: auto, against coturn (Debian's, STUN only) in a network namespace:
// the pbx takes the address coturn reports for it. Then this host's source address
// toward coturn is changed (as a NAT's public address changes when the provider hands
// out a new one): the pbx notices at its next check, the next call's SDP carries the new
// address (what the provider is offered), and its trunk registers again with a Contact at
// the new address.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { Netns } from '../helpers/netns.ts';
import { createToken, freePort, freeSipPort, runCli, RunningServer, tempDir, writeConfig } from '../helpers/server.ts';
import { TestUa } from '../helpers/sip-client.ts';
import { RtpPeer } from '../helpers/rtp-peer.ts';
import { stunBinding } from '../../src/util/stun.ts';

const dir = tempDir();
let ns: Netns;
let coturn: ChildProcess;
let server: RunningServer;
let token: string;
let sipPort: number;
let registrar: Socket;
/** The Contact of every REGISTER the provider got, in order. */
const contacts: string[] = [];
/** The SDP address of every INVITE the provider got, in order. */
const offered: string[] = [];
let phonePassword: string;
let configFile: string;

/** A provider's registrar that accepts every REGISTER (the pbx's credentials are tested elsewhere). */
async function startRegistrar(): Promise<number> {
  registrar = createSocket('udp4');
  registrar.on('message', (msg, from) => {
    const text = msg.toString('utf8');
    const header = (name: string) => new RegExp(`^${name}:[ \\t]*(.*)$`, 'im').exec(text)?.[1]?.trim() ?? '';
    if (text.startsWith('OPTIONS ')) {
      // As any SIP server does (RFC 3261 §18.2.1): where the request really came from, in Via.
      const via = `${header('Via')};received=${from.address}`;
      const ok = ['SIP/2.0 200 OK', `Via: ${via}`, `From: ${header('From')}`, `To: ${header('To')};tag=opt1`, `Call-ID: ${header('Call-ID')}`, `CSeq: ${header('CSeq')}`, 'Content-Length: 0', '', ''].join('\r\n');
      registrar.send(ok, from.port, from.address);
      return;
    }
    if (text.startsWith('INVITE ')) {
      // A call out: note where the pbx wants the audio, and say busy.
      offered.push(/^c=IN IP4 (\S+)/m.exec(text)?.[1] ?? '');
      const busy = ['SIP/2.0 486 Busy Here', `Via: ${header('Via')}`, `From: ${header('From')}`, `To: ${header('To')};tag=busy1`, `Call-ID: ${header('Call-ID')}`, `CSeq: ${header('CSeq')}`, 'Content-Length: 0', '', ''].join('\r\n');
      registrar.send(busy, from.port, from.address);
      return;
    }
    if (!text.startsWith('REGISTER ')) return;
    contacts.push(header('Contact'));
    const ok = ['SIP/2.0 200 OK', `Via: ${header('Via')}`, `From: ${header('From')}`, `To: ${header('To')};tag=reg1`, `Call-ID: ${header('Call-ID')}`, `CSeq: ${header('CSeq')}`, `Contact: ${header('Contact').replace(/;expires=\d+/, '')};expires=60`, 'Content-Length: 0', '', ''].join('\r\n');
    registrar.send(ok, from.port, from.address);
  });
  await new Promise<void>((r) => registrar.bind(0, '127.0.0.2', r));
  return registrar.address().port;
}

async function until<T>(what: string, get: () => Promise<T | undefined> | T | undefined, ms = 10_000): Promise<T> {
  for (const end = Date.now() + ms; ; ) {
    const v = await get();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

before(async () => {
  ns = new Netns('stun');
  coturn = spawn('ip', ['netns', 'exec', ns.name, 'turnserver', '-n', '--stun-only', '--no-cli', '--no-tls', '--no-dtls', '-L', ns.peerIp, '-p', '3478', '--log-file', 'stdout']);
  const stun = `${ns.peerIp}:3478`;
  await until('coturn', () => stunBinding(stun, { attempts: 1, rtoMs: 200 }).then((m) => m, () => undefined));
  sipPort = await freeSipPort();
  const port = await freePort();
  const regPort = await startRegistrar();
  const file = (configFile = writeConfig(dir, {
    port,
    sipPort,
    externalIp: 'auto',
    serverExtra: `  stun_servers: ["${stun}"]\n  stun_interval_seconds: 1\n`,
    extra: 'sip:\n  trunk_options_seconds: 0\ndialplan:\n  outbound_routes:\n    - name: out\n      patterns: ["NXXNXXXXXX"]\n      trunks: [provider]\n',
  }));
  token = await createToken(file);
  server = await RunningServer.start(file, port);
  const ext = await server.api('POST', '/api/extensions', token, { number: '3101', name: 'Roaming', digest_algorithms: ['MD5'] });
  assert.equal(ext.status, 201);
  phonePassword = ext.json.password;
  const trunk = await server.api('POST', '/api/trunks', token, { name: 'provider', host: '127.0.0.2', port: regPort, username: 'acct1', password: 'provider-secret', expiry_seconds: 3600 });
  assert.equal(trunk.status, 201, JSON.stringify(trunk.json));
});

after(async () => {
  coturn?.kill('SIGKILL');
  registrar?.close();
  await server?.stop();
  ns?.close();
});

/** The address in the SDP of the pbx's INVITE to the provider, for a call out from extension 3101. */
async function sdpAddress(): Promise<string> {
  const ua = await new TestUa({ host: '127.0.0.1', port: sipPort }, '3101', phonePassword).open();
  const ear = await new RtpPeer().open();
  try {
    const before = offered.length;
    const call = await ua.invite('2125550100', ear.sdp());
    assert.equal(call.status, 486, 'the provider said busy');
    assert.equal(offered.length, before + 1, 'the provider got the INVITE');
    return offered[offered.length - 1]!;
  } finally {
    ear.close();
    ua.close();
  }
}

test('external_ip: auto takes the address STUN reports, and follows it when it changes: next call, trunk registration', async () => {
  const first = ns.hostIp;
  const status = await server.api('GET', '/api/status', token);
  assert.equal(status.json.external_ip, first, 'the address coturn saw');
  await until('the first registration', () => contacts.find((c) => c.includes(`@${first}:`)));
  assert.equal(await sdpAddress(), first);

  const next = ns.moveHostAddress();
  await server.waitForLog(new RegExp(`Public address changed: ${first.replace(/\./g, '\\.')} → ${next.replace(/\./g, '\\.')}`), 10_000);
  await until('a registration at the new address', () => contacts.find((c) => c.includes(`@${next}:`)));
  assert.equal(await sdpAddress(), next, "the next call's SDP carries the new address");
  assert.equal((await server.api('GET', '/api/status', token)).json.external_ip, next);
  const trunks = await server.api('GET', '/api/trunks', token);
  assert.equal(trunks.json.trunks[0].status.state, 'registered');
});

test('pbx doctor checks the trunk: registered (the running server says), the provider answers OPTIONS, and where the provider sees this host against server.external_ip', async () => {
  const r = await runCli(['doctor', '--json', '--config', configFile]);
  const findings = new Map((JSON.parse(r.stdout).findings as { check: string; ok: boolean; message: string; fix?: string }[]).map((f) => [f.check, f]));
  assert.equal(findings.get('trunk-provider-registered')?.ok, true, JSON.stringify(findings.get('trunk-provider-registered')));
  assert.equal(findings.get('trunk-provider-options')?.ok, true, JSON.stringify(findings.get('trunk-provider-options')));
  // The doctor's probe reaches the provider from the loopback, not from the address STUN
  // reported: the provider sees another address than server.external_ip, and says so.
  const address = findings.get('trunk-provider-address');
  assert.equal(address?.ok, false);
  assert.match(address!.message, /the provider sees this host at 127\.0\.0\.1, but server\.external_ip is 10\./);
  assert.match(address!.fix!, /server\.external_ip to 127\.0\.0\.1, or to auto/);
});
