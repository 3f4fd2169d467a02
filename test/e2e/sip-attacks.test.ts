// Attacks from another host (a network namespace: this server never bans its own
// addresses, so loopback would hide all of this): a slow password guesser is banned
// even though it never floods, and one forged scanner datagram does not cut off the
// phone registered from the address it claims.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createToken, freePort, freeSipPort, RunningServer, tempDir, writeConfig } from '../helpers/server.ts';
import { Netns } from '../helpers/netns.ts';

const dir = tempDir();
let server: RunningServer;
let sipPort: number;
let netns: Netns;
let token: string;
const PW: Record<string, string> = { '9101': 'kR4-tY7-uI2-oP9', '9102': 'zA3-sD6-fG9-hJ2' };

before(async () => {
  netns = new Netns('atk');
  sipPort = await freeSipPort();
  const port = await freePort();
  const file = writeConfig(dir, { port, sipPort });
  writeFileSync(file, readFileSync(file, 'utf8').replace('  sip_host: 127.0.0.1\n', '  sip_host: 0.0.0.0\n'));
  token = await createToken(file);
  server = await RunningServer.start(file, port);
  for (const [n, pw] of Object.entries(PW)) assert.equal((await server.api('POST', '/api/extensions', token, { number: n, password: pw, digest_algorithms: ['MD5'] })).status, 201);
});
after(async () => {
  await server?.stop();
  netns?.close();
});

const securityLog = () => (existsSync(join(dir, 'data/security.log')) ? readFileSync(join(dir, 'data/security.log'), 'utf8') : '');

test('one forged scanner datagram from a registered phone\'s address does not cut the phone off', async () => {
  const [registered, sent, options, ...rest] = await netns.actor<(number | string | null)[]>({
    server: { host: netns.hostIp, port: sipPort },
    local: netns.peerIp,
    steps: [
      { op: 'register', user: '9102', password: PW['9102'] },
      {
        op: 'raw',
        text: `OPTIONS sip:100@${netns.hostIp} SIP/2.0\nVia: SIP/2.0/UDP ${netns.peerIp}:5060;branch=z9hG4bKforged1\nMax-Forwards: 70\nFrom: <sip:100@${netns.hostIp}>;tag=f\nTo: <sip:100@${netns.hostIp}>\nCall-ID: forged-1\nCSeq: 1 OPTIONS\nUser-Agent: friendly-scanner\nContent-Length: 0\n\n`,
      },
      { op: 'sleep', ms: 200 },
      { op: 'options' },
    ],
  }).then((r) => [r[0], r[1], r[3], ...r.slice(4)]);
  void rest;
  assert.equal(registered, 200);
  assert.equal(sent, 'sent');
  assert.equal(options, 200, 'the phone still gets answers after the forged datagram');
  assert.doesNotMatch(securityLog(), new RegExp(`event=ban ip=${netns.peerIp.replace(/\./g, '\\.')}`));
});

test('a slow password guesser (3 guesses a second, never a flood) is banned after 10 failures', async () => {
  // From another address than the phone's above (a registration there protects an address).
  const guesses = Array.from({ length: 11 }, (_, i) => `guess-${i}-password`);
  const [statuses] = await netns.actor<(number | null)[][]>({
    server: { host: netns.hostIp, port: sipPort },
    local: netns.peerIp2,
    steps: [{ op: 'guesses', user: '9101', passwords: guesses, paceMs: 333 }],
  }, 90_000);
  assert.deepEqual(statuses!.slice(0, 10), Array(10).fill(401), `each guess was refused: ${statuses}`);
  assert.equal(statuses![10], null, `after the 10th failure the guesser gets no answer: ${statuses}`);
  assert.match(securityLog(), new RegExp(`event=ban ip=${netns.peerIp2.replace(/\./g, '\\.')} service=sip reason=auth-failures count=10 window=3600s`));
});

test('wrong voicemail PINs from another host count toward its ban: ten calls of three wrong PINs, and the host is banned', async () => {
  assert.equal((await server.api('PUT', '/api/voicemail/9101', token, { pin: '4826' })).status, 200);
  // A host of its own: no phone is registered from it (a registration protects an address).
  const host = new Netns('vmp');
  try {
    const ip = host.peerIp.replace(/\./g, '\\.');
    const [calls, , probe] = await host.actor<unknown[]>(
      {
        server: { host: host.hostIp, port: sipPort },
        local: host.peerIp,
        steps: [
          // *98, mailbox 9101, then three wrong PINs: each call is hung up and is one failure.
          // Calls overlap but stay under the flood limit (16 requests in 2 s).
          { op: 'keyed-calls', user: '9102', password: PW['9102'], dial: '*98', keys: '9101#1111#2222#3333#', calls: 10, staggerMs: 600 },
          { op: 'sleep', ms: 300 },
          { op: 'probe' },
        ],
      },
      90_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\nserver:\n${server.log.split('\n').slice(-30).join('\n')}`);
    });
    assert.deepEqual(calls, Array(10).fill('hung up'), 'the pbx hung up on each caller');
    const log = securityLog();
    assert.equal(log.match(new RegExp(`auth-failure ip=${ip} service=voicemail user=9101`, 'g'))?.length, 10, log);
    assert.match(log, new RegExp(`event=ban ip=${ip} service=sip reason=auth-failures count=10`));
    assert.equal(probe, null, 'after the tenth failure the host gets no answer');
  } finally {
    host.close();
  }
});
