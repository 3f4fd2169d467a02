// Calls with the outside world and a real phone (baresip), against a carrier played by
// SIPp from an address of its own (127.0.0.2): the phone calls an outside number (the
// carrier checks the trunk's credentials, answers and echoes; RTP is counted on both legs
// of the relay); a call to a DID routed to an extension rings its phone (baresip, which
// answers) with the caller's name and number, and audio flows both ways through the
// relay; a DID no route takes reaches the default destination (an announcement the pbx
// plays before it hangs up); an INVITE that claims to be the carrier's from another
// address (127.0.0.3) gets 403 and nothing else; a provider that never answers the pbx's
// call leaves no call and no media port behind.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Baresip, startBaresip } from '../helpers/baresip.ts';
import { writeToneWav } from '../helpers/audio.ts';
import { createToken, freePort, freeSipPort, runCli, RunningServer, securityLogWith, tempDir, writeConfig } from '../helpers/server.ts';
import { sipp, sippTrace } from '../helpers/sipp.ts';
import { readyCarrierUas } from '../helpers/carrier.ts';

const CARRIER_IP = '127.0.0.2';
const STRANGER_IP = '127.0.0.3';
const dir = tempDir();
let server: RunningServer;
let token: string;
let sipPort: number;
let carrierPort: number;
const phones: Baresip[] = [];
let configFile: string;

before(async () => {
  sipPort = await freeSipPort();
  carrierPort = await freeSipPort();
  const port = await freePort();
  const file = (configFile = writeConfig(dir, {
    port,
    sipPort,
    extra:
      'dialplan:\n  outbound_routes:\n    - name: out\n      patterns: ["NXXNXXXXXX"]\n      trunks: [carrier]\n  inbound_routes:\n' +
      '    - did: "+15551230001"\n      destination: extension:3001\n' +
      '    - did: "5551230002"\n      trunk: carrier\n      destination: voicemail:3001\n' +
      '  inbound_default: announcement:not-in-service\n' +
      'sip:\n  trunk_options_seconds: 0\n',
  }));
  token = await createToken(file);
  server = await RunningServer.start(file, port);
  const ext = await server.api('POST', '/api/extensions', token, { number: '3001', name: 'Sales', digest_algorithms: ['MD5'] });
  assert.equal(ext.status, 201);
  const trunk = await server.api('POST', '/api/trunks', token, { name: 'carrier', host: CARRIER_IP, port: carrierPort, register: false, username: 'pbxtrunk', password: 's3cret-Trunk' });
  assert.equal(trunk.status, 201, JSON.stringify(trunk.json));
  const mic = join(dir, 'tone-600.wav');
  writeToneWav(mic, 600, 30);
  phones.push(await startBaresip(dir, { extension: '3001', password: ext.json.password, server: { host: '127.0.0.1', port: sipPort }, listenPort: 28000 + (sipPort % 500) * 2, microphone: mic, answerMode: 'manual' }));
});

after(async () => {
  for (const p of phones) p.child.kill('SIGKILL');
  await server?.stop();
});

function carrierCalls(scenario: string, did: string, o: { fromHost?: string; localIp?: string } = {}) {
  const localIp = o.localIp ?? CARRIER_IP;
  return sipp({ scenario, rows: [`${did};${o.fromHost ?? localIp}`], localPort: o.localIp ? carrierPort + 1 : carrierPort, localIp, server: { host: '127.0.0.1', port: sipPort }, dir, timeoutSeconds: 20, extra: ['-rtp_echo', '-mp', String(carrierPort + 2), '-trace_msg'] });
}

/** The newest CDR once it is this call's: the pbx ends a call when the BYE's 200 reaches it, which may be after SIPp has finished. */
async function lastCdr(isThisCall: (cdr: any) => boolean): Promise<any> {
  let cdr: any;
  for (const until = Date.now() + 3000; !(cdr && isThisCall(cdr)) && Date.now() < until; await new Promise((r) => setTimeout(r, 100))) {
    cdr = (await server.api('GET', '/api/cdr', token)).json.cdr[0];
  }
  return cdr;
}

test('the phone calls an outside number: the carrier gets the trunk\'s credentials and none of the phone\'s identifiers, audio flows both ways, the phone hangs up', async () => {
  const phone = phones[0]!;
  const { run } = await readyCarrierUas({ dir, hangup: 'caller', port: carrierPort, ip: CARRIER_IP, mediaPort: await freePort(), user: 'pbxtrunk', password: 's3cret-Trunk' });
  phone.send('/dial 2125551234');
  await phone.waitFor(/Call established: sip:2125551234@/);
  await new Promise((r) => setTimeout(r, 2000));
  phone.send('/hangup');
  const result = await run;
  assert.equal(result.code, 0, result.output.slice(-2500));
  const trace = sippTrace(dir, 'carrier-uas-caller');
  const invite = trace.split(/\n(?=INVITE )/).filter((m) => m.startsWith('INVITE ')).pop()!;
  assert.match(invite, /^Authorization: Digest username="pbxtrunk"/m);
  assert.doesNotMatch(invite, /baresip/i, "nothing of the phone's (its User-Agent) reaches the carrier");
  const cdr = await lastCdr((c) => c.callee === '2125551234');
  assert.equal(cdr.direction, 'outbound');
  assert.equal(cdr.trunk, 'carrier');
  assert.equal(cdr.hangup_side, 'caller');
  assert.ok(cdr.media_packets_sent > 50 && cdr.media_packets_received > 50, `relayed both ways: ${cdr.media_packets_sent} out, ${cdr.media_packets_received} in`);
});

test("a call to a DID routed to an extension rings its phone, which shows the caller's name and number and answers; audio flows both ways", async () => {
  const phone = phones[0]!;
  const call = carrierCalls('carrier-call.xml', '15551230001');
  // It rings, showing the caller as the carrier gave it; then it is answered.
  await phone.waitFor(/Incoming call from: Alice Customer sip:\+12125550199@/);
  phone.send('/accept');
  await phone.waitFor(/Call established: sip:\+12125550199@/);
  const run = await call;
  assert.equal(run.successful, 1, run.output.slice(-3000));
  const cdr = await lastCdr((c) => c.did === '15551230001');
  assert.equal(cdr.direction, 'inbound');
  assert.equal(cdr.trunk, 'carrier');
  assert.equal(cdr.did, '15551230001');
  assert.equal(cdr.caller, '+12125550199');
  assert.equal(cdr.callee, '3001');
  assert.equal(cdr.result, 'answered');
  assert.equal(cdr.hangup_side, 'caller');
  // Counted on both legs of the relay: from the phone out to the carrier, and back in.
  assert.ok(cdr.media_packets_sent > 50, `packets from the phone relayed to the carrier: ${cdr.media_packets_sent}`);
  assert.ok(cdr.media_packets_received > 50, `packets from the carrier (its echo) received: ${cdr.media_packets_received}`);
});

test('an unmatched DID reaches the default destination: the pbx answers, plays the announcement and hangs up', async () => {
  const started = Date.now();
  const run = await carrierCalls('carrier-call-announced.xml', '5559990000');
  assert.equal(run.successful, 1, run.output.slice(-3000));
  const seconds = (Date.now() - started) / 1000;
  assert.ok(seconds > 2, `the announcement (2.4 s) played before the hang-up (${seconds.toFixed(1)} s)`);
  await server.waitForLog(/Inbound call from \+12125550199 \(Alice Customer\) via trunk carrier to 5559990000: announcement not-in-service/);
  const cdr = await lastCdr((c) => c.did === '5559990000');
  assert.equal(cdr.did, '5559990000');
  assert.equal(cdr.direction, 'inbound');
  assert.equal(cdr.result, 'answered');
  assert.equal(cdr.hangup_side, 'system');
  assert.ok(cdr.media_packets_sent > 100, `the announcement's packets went out: ${cdr.media_packets_sent}`);
});

test("an INVITE that claims to be the carrier's but comes from another address gets 403 and learns nothing", async () => {
  const before = (await server.api('GET', '/api/cdr', token)).json.cdr.length;
  const run = await carrierCalls('carrier-call-refused.xml', '15551230001', { localIp: STRANGER_IP, fromHost: CARRIER_IP });
  assert.equal(run.successful, 1, run.output.slice(-3000));
  // Nothing but the 403 came back: no challenge, no 100 Trying.
  const trace = sippTrace(dir, 'carrier-call-refused');
  assert.doesNotMatch(trace, /SIP\/2\.0 (100|180|407|401)/);
  const line = /call-refused.*ip=127\.0\.0\.3.*reason=not-a-trunk-address/;
  assert.match(await securityLogWith(dir, line), line);
  assert.equal((await server.api('GET', '/api/cdr', token)).json.cdr.length, before, 'no call was started');
});

test('a provider that asks the pbx to refresh the session (RFC 4028, refresher=uas) is told so in the 200 and gets an UPDATE within the interval', async () => {
  const phone = phones[0]!;
  const call = carrierCalls('carrier-call-timer.xml', '15551230001');
  await phone.waitFor(/Incoming call from: Alice Customer sip:\+12125550199@[\s\S]*Incoming call from: Alice Customer sip:\+12125550199@/);
  phone.send('/accept');
  const run = await call;
  assert.equal(run.successful, 1, run.output.slice(-3000));
  await server.waitForLog(/The caller asks for session refreshes every 4 s: the pbx refreshes \(UPDATE\) every 2 s/);
});

test('GET /api/routes and pbx routes show the routes of config.yml with the trunks they name', async () => {
  const r = await server.api('GET', '/api/routes', token);
  assert.equal(r.status, 200);
  assert.deepEqual(r.json.outbound, [{ name: 'out', patterns: ['NXXNXXXXXX'], trunks: [{ name: 'carrier', known: true }], caller_id: null }]);
  assert.deepEqual(r.json.inbound.map((x: { did: string; destination: string }) => `${x.did} → ${x.destination}`), ['+15551230001 → extension:3001', '5551230002 → voicemail:3001']);
  assert.equal(r.json.inbound_default, 'announcement:not-in-service');
  const cli = await runCli(['routes', '--config', configFile]);
  assert.equal(cli.code, 0, cli.stderr);
  assert.match(cli.stdout, /out\s+NXXNXXXXXX\s+carrier/);
  assert.match(cli.stdout, /\+15551230001\s+any\s+extension:3001/);
  assert.match(cli.stdout, /any other DID → announcement:not-in-service/);
});
