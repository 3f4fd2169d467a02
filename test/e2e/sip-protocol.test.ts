// The SIP server against hand-made requests over real UDP and TCP sockets: replay
// and identity rules of digest auth, RFC 4475 torture messages, forking, busy, no
// answer, and requests inside a dialog.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { seededRandom } from '../helpers/random.ts';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { createToken, freePort, freeSipPort, runCli, RunningServer, ROOT, tempDir, writeConfig } from '../helpers/server.ts';
import { TestUa } from '../helpers/sip-client.ts';

const dir = tempDir();
let server: RunningServer;
let token: string;
let sipPort: number;
const PW: Record<string, string> = { '3001': 'aQ7-zP2-mK9-xL4', '3002': 'bW8-yO3-nJ1-wK5', '3003': 'cE9-xI4-oH2-vJ6' };
const uas: TestUa[] = [];

before(async () => {
  sipPort = await freeSipPort();
  const port = await freePort();
  const file = writeConfig(dir, { port, sipPort, extra: 'sip:\n  no_answer_seconds: 5\n  keepalive_seconds: 5\n# These tests are about the proxy\'s own answers (480, 486): no mailbox takes the calls.\nvoicemail:\n  enabled: false\n' });
  token = await createToken(file);
  for (const [n, pw] of Object.entries(PW)) assert.equal((await runCli(['ext', 'add', n, '--password', pw, '--config', file])).code, 0);
  server = await RunningServer.start(file, port);
});
after(async () => {
  for (const u of uas) u.close();
  await server?.stop();
});

async function ua(user: string): Promise<TestUa> {
  const u = await new TestUa({ host: '127.0.0.1', port: sipPort }, user, PW[user] ?? 'x').open();
  uas.push(u);
  return u;
}

async function bindings(ext: string) {
  const r = await server.api('GET', '/api/registrations', token);
  return r.json.registrations.filter((x: any) => x.extension === ext);
}

test('SHA-256 is offered first and works; MD5 works too', async () => {
  const a = await ua('3001');
  const first = await a.request('REGISTER', { headers: ['Expires: 60'] });
  assert.equal(first.status, 401);
  const offered = first.headers.get('www-authenticate')!;
  assert.match(offered[0]!, /algorithm=SHA-256/);
  assert.match(offered[1]!, /algorithm=MD5/);
  assert.match(offered[0]!, /qop="auth"/);
  assert.equal((await a.register({ algorithm: 'SHA-256' })).reply.status, 200);
  assert.equal((await a.register({ algorithm: 'MD5' })).reply.status, 200);
});

test('a replayed Authorization header is refused', async () => {
  const a = await ua('3001');
  const mine = async () => (await bindings('3001')).filter((b: any) => b.source === `127.0.0.1:${a.port}`).length;
  const { reply, authorization } = await a.register({ expires: 0 });
  assert.equal(reply.status, 200);
  assert.equal(await mine(), 0);
  // Same credentials again, in a new REGISTER that would bind: the nonce count was used.
  const replay = await a.request('REGISTER', { headers: ['Expires: 300', `Authorization: ${authorization}`] });
  assert.equal(replay.status, 401);
  assert.equal(await mine(), 0, 'the replay bound nothing');
  await server.waitForLog(/REGISTER authentication failed for 3001 from 127\.0\.0\.1: replay/);
});

test('the digest username cannot register another extension\'s AOR', async () => {
  const a = await ua('3001');
  const r = await a.register({ aor: '3002' });
  assert.equal(r.reply.status, 403);
  assert.equal((await bindings('3002')).length, 0);
});

test('a nonce is bound to the client address', async () => {
  const a = await ua('3001');
  const b = await ua('3001');
  const challenge = await a.request('REGISTER', { headers: ['Expires: 60'] });
  // Same source IP (127.0.0.1) here, so it is accepted; a forged nonce is not.
  const forged = a.authorize('REGISTER', `sip:127.0.0.1:${sipPort}`, { ...challenge, headers: new Map([['www-authenticate', ['Digest realm="pbx", nonce="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", algorithm=MD5, qop="auth"']]]) }, 'www-authenticate');
  const r = await b.request('REGISTER', { headers: ['Expires: 60', `Authorization: ${forged}`] });
  assert.equal(r.status, 401);
});

test('Min-Expires: too short an interval gets 423', async () => {
  const a = await ua('3001');
  const r = await a.register({ expires: 10 });
  assert.equal(r.reply.status, 423);
  assert.equal(r.reply.headers.get('min-expires')?.[0], '60');
});

test('several contacts per AOR; Contact: * with Expires: 0 removes them all', async () => {
  const a1 = await ua('3003');
  const a2 = await ua('3003');
  assert.equal((await a1.register()).reply.status, 200);
  const second = await a2.register();
  assert.equal(second.reply.status, 200);
  assert.equal(second.reply.headers.get('contact')!.length, 2, '200 lists every binding');
  assert.equal((await bindings('3003')).length, 2);
  const base = { callId: 'star-1', from: '<sip:3003@127.0.0.1>;tag=s1', contact: '*' };
  const chal = await a1.request('REGISTER', { ...base, cseq: 1, headers: ['Expires: 0'] });
  assert.equal(chal.status, 401);
  const auth = a1.authorize('REGISTER', `sip:127.0.0.1:${sipPort}`, chal, 'www-authenticate');
  const wrongExpires = await a1.request('REGISTER', { ...base, cseq: 2, headers: ['Expires: 60', `Authorization: ${auth}`] });
  assert.equal(wrongExpires.status, 400, '"*" needs Expires: 0');
  const chal2 = await a1.request('REGISTER', { ...base, cseq: 3, headers: ['Expires: 0'] });
  const auth2 = a1.authorize('REGISTER', `sip:127.0.0.1:${sipPort}`, chal2, 'www-authenticate');
  const done = await a1.request('REGISTER', { ...base, cseq: 4, headers: ['Expires: 0', `Authorization: ${auth2}`] });
  assert.equal(done.status, 200);
  assert.equal((await bindings('3003')).length, 0);
});

test('RFC 4475 torture messages over UDP: answered as the RFC says, and the server keeps answering', async () => {
  const a = await ua('3002');
  const corpus: { name: string; kind: string; status: number | null; valid: boolean }[] = JSON.parse(readFileSync(join(ROOT, 'test/sip/torture/index.json'), 'utf8'));
  const expectations: Record<string, number[]> = {
    badvers: [505], unkscm: [416], novelsc: [416], mismatch01: [400], insuf: [400], multi01: [400], mcl01: [400],
    clerr: [400], ncl: [400], scalar02: [400], badinv01: [400], quotbal: [400], ltgtruri: [400], lwsruri: [400],
    baddn: [400], bext01: [420], intmeth: [501], esc02: [501], unksm2: [400], regaut01: [401],
  };
  for (const t of corpus) {
    if (t.kind !== 'request') continue;
    const bytes = readFileSync(join(ROOT, 'test/sip/torture', `${t.name}.dat`));
    a.sendRaw(bytes);
    const want = expectations[t.name];
    if (!want) continue;
    // Responses go to the Via of the torture message, not to us: check the server's log of
    // parse errors and its answer to a probe instead, for those; direct ones are checked below.
  }
  // The server is still up and answering.
  const probe = await a.request('OPTIONS', { uri: `sip:127.0.0.1:${sipPort}` });
  assert.equal(probe.status, 200);
  assert.match(probe.headers.get('allow')![0]!, /INVITE/);
  // Each expected status, with the torture message's Via pointed back at us so we see the answer.
  for (const [name, statuses] of Object.entries(expectations)) {
    let text = readFileSync(join(ROOT, 'test/sip/torture', `${name}.dat`)).toString('latin1');
    text = text.replace(/^(Via|v)\s*:[^\r\n]*(\r\n[ \t][^\r\n]*)*/im, `Via: SIP/2.0/UDP 127.0.0.1:${a.port};branch=z9hG4bK-${name}`);
    const callId = /^(?:Call-ID|i)\s*:\s*([^\r\n]+)/im.exec(text)?.[1]?.trim();
    a.sendRaw(Buffer.from(text, 'latin1'));
    const reply = await waitForBranch(a, `z9hG4bK-${name}`).catch(() => assert.fail(`${name}: no answer`));
    assert.ok(statuses.includes(reply.status), `${name}: got ${reply.status} ${reply.reason}, expected ${statuses}`);
    if (name === 'bext01') assert.match(reply.headers.get('unsupported')![0]!, /nothingSupportsThis, nothingSupportsThisEither/);
    if (reply.status === 400) assert.ok(reply.reason.length > 'Bad Request'.length, `${name}: reason names the problem (${reply.reason})`);
    const to = reply.headers.get('to')?.[0];
    if (to !== undefined) assert.match(to, /;\s*tag=/i, `${name}: the ${reply.status} carries a To tag (RFC 3261 §8.2.6.2)`);
    void callId;
  }
  assert.equal((await a.request('OPTIONS', { uri: `sip:127.0.0.1:${sipPort}` })).status, 200);
});

test('5,000 seeded mutations of the torture messages over UDP: the server stays up and keeps answering', async () => {
  const a = await ua('3002');
  const corpus: { name: string }[] = JSON.parse(readFileSync(join(ROOT, 'test/sip/torture/index.json'), 'utf8'));
  const seeds = corpus.map((t) => readFileSync(join(ROOT, 'test/sip/torture', `${t.name}.dat`)));
  const rand = seededRandom(0xbadc0de);
  for (let i = 0; i < 5000; i++) {
    const buf = Buffer.from(seeds[Math.floor(rand() * seeds.length)]!);
    for (let k = 0; k < 1 + Math.floor(rand() * 6); k++) buf[Math.floor(rand() * buf.length)] = Math.floor(rand() * 256);
    a.sendRaw(buf);
    if (i % 250 === 0) await new Promise((r) => setImmediate(r));
  }
  const probe = await a.request('OPTIONS', { uri: `sip:127.0.0.1:${sipPort}` });
  assert.equal(probe.status, 200);
  assert.equal(server.child.exitCode, null, 'still running');
  assert.doesNotMatch(await server.settledLog(), /Error while handling a SIP (message|request)/, 'no handler threw');
});

test('REGISTER over TCP, and the binding uses the connection', async () => {
  const sock = connect(sipPort, '127.0.0.1');
  await new Promise((r) => sock.once('connect', r));
  let data = '';
  sock.on('data', (d) => (data += d.toString('latin1')));
  const local = sock.localPort!;
  const msg = (cseq: number, auth = '') =>
    `REGISTER sip:127.0.0.1:${sipPort};transport=tcp SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:${local};branch=z9hG4bKtcp${cseq}\r\nMax-Forwards: 70\r\nFrom: <sip:3002@127.0.0.1>;tag=t1\r\nTo: <sip:3002@127.0.0.1>\r\nCall-ID: tcp-1\r\nCSeq: ${cseq} REGISTER\r\nContact: <sip:3002@127.0.0.1:${local};transport=tcp>\r\nExpires: 60\r\n${auth}Content-Length: 0\r\n\r\n`;
  sock.write('\r\n\r\n'); // RFC 5626 keep-alive ping: answered with a pong
  sock.write(msg(1));
  await until(() => data.includes('401 Unauthorized'));
  assert.ok(data.startsWith('\r\n'), 'pong before the response');
  const probe = new TestUa({ host: '127.0.0.1', port: sipPort }, '3002', PW['3002']!);
  const head = data.slice(data.indexOf('SIP/2.0'));
  const challenge = { status: 401, reason: '', raw: head, headers: new Map([['www-authenticate', head.split('\r\n').filter((l) => l.startsWith('WWW-Authenticate:')).map((l) => l.slice(18))]]) };
  const auth = probe.authorize('REGISTER', `sip:127.0.0.1:${sipPort};transport=tcp`, challenge, 'www-authenticate');
  data = '';
  sock.write(msg(2, `Authorization: ${auth}\r\n`));
  await until(() => data.includes('200 OK'));
  const b = (await bindings('3002')).find((x: any) => x.transport === 'tcp');
  assert.ok(b, 'TCP binding listed');
  assert.equal(b.source, `127.0.0.1:${local}`);
  sock.destroy();
});

test('forking: both contacts ring, the first 2xx wins, the other branch is cancelled', async () => {
  const callee1 = await ua('3002');
  const callee2 = await ua('3002');
  const caller = await ua('3001');
  assert.equal((await callee1.register()).reply.status, 200);
  assert.equal((await callee2.register()).reply.status, 200);
  callee1.onRequest = (req) => (req.method === 'INVITE' ? { status: 180, reason: 'Ringing' } : { status: 200, reason: 'OK' });
  callee2.onRequest = (req) => (req.method === 'INVITE' ? { status: 200, reason: 'OK', extra: [`Contact: <sip:3002@127.0.0.1:${callee2.port}>`] } : { status: 200, reason: 'OK' });
  const res = await invite(caller, '3002');
  assert.equal(res.status, 200);
  await callee1.waitRequest((r) => r.method === 'CANCEL');
  assert.ok(callee2.requests.some((r) => r.method === 'INVITE'));
  const rr = res.headers.get('record-route')?.[0];
  assert.match(rr!, new RegExp(`<sip:127\\.0\\.0\\.1:${sipPort};transport=udp;lr>`), 'the proxy record-routes');
  // Hang up from the caller: the BYE reaches the answering phone through the proxy.
  await inDialog(caller, res, 'BYE', `sip:3002@127.0.0.1:${callee2.port}`);
  await callee2.waitRequest((r) => r.method === 'BYE');
});

test('busy → 486 to the caller; no answer → 480 after sip.no_answer_seconds', async () => {
  for (const u of uas) u.onRequest = () => null; // silence older agents
  const busy = await ua('3003');
  const caller = await ua('3001');
  assert.equal((await busy.register()).reply.status, 200);
  busy.onRequest = (req) => (req.method === 'INVITE' ? { status: 486, reason: 'Busy Here' } : { status: 200, reason: 'OK' });
  assert.equal((await invite(caller, '3003')).status, 486);
  busy.onRequest = (req) => (req.method === 'INVITE' ? { status: 180, reason: 'Ringing' } : req.method === 'CANCEL' ? { status: 200, reason: 'OK' } : null);
  const started = Date.now();
  const noAnswer = await invite(caller, '3003', 12_000);
  assert.equal(noAnswer.status, 480);
  assert.ok(Date.now() - started >= 4500, 'after the configured ring time');
  await busy.waitRequest((r) => r.method === 'CANCEL');
  assert.equal((await busy.register({ expires: 0 })).reply.status, 200);
});

test('MESSAGE out of dialog is authenticated and delivered', async () => {
  const to = await ua('3002');
  const from = await ua('3001');
  assert.equal((await to.register()).reply.status, 200);
  to.onRequest = () => ({ status: 200, reason: 'OK' });
  const first = await from.request('MESSAGE', { uri: 'sip:3002@127.0.0.1', to: '<sip:3002@127.0.0.1>', from: '<sip:3001@127.0.0.1>;tag=m1', callId: 'msg-1', body: 'hello', headers: ['Content-Type: text/plain'] });
  assert.equal(first.status, 407);
  const auth = from.authorize('MESSAGE', 'sip:3002@127.0.0.1', first, 'proxy-authenticate');
  const second = await from.request('MESSAGE', { uri: 'sip:3002@127.0.0.1', to: '<sip:3002@127.0.0.1>', from: '<sip:3001@127.0.0.1>;tag=m1', callId: 'msg-1', body: 'hello', headers: ['Content-Type: text/plain', `Proxy-Authorization: ${auth}`] });
  assert.equal(second.status, 200);
  const got = await to.waitRequest((r) => r.method === 'MESSAGE');
  assert.ok(got.raw.endsWith('hello'));
  assert.ok(!got.headers.has('proxy-authorization'), "the caller's credentials are consumed by the server, never forwarded");
});

test('a phone behind NAT (private Via and Contact) is called at its public source and kept alive', async () => {
  const natted = await ua('3003');
  natted.sentBy = '10.77.0.9:5060'; // what the phone believes its address is
  for (const u of uas) if (u !== natted) u.onRequest = () => null;
  assert.equal((await natted.register()).reply.status, 200);
  const b = (await bindings('3003')).find((x: any) => x.contact.includes('10.77.0.9'));
  assert.equal(b.source, `127.0.0.1:${natted.port}`, 'the source is what counts');
  natted.onRequest = (req) => (req.method === 'INVITE' ? { status: 486, reason: 'Busy Here' } : { status: 200, reason: 'OK' });
  const caller = await ua('3001');
  assert.equal((await invite(caller, '3003')).status, 486, 'the INVITE reached the phone through its NAT mapping');
  const ping = await natted.waitRequest((r) => r.method === 'OPTIONS', 8000);
  assert.match(ping.uri, /10\.77\.0\.9/, 'keep-alive OPTIONS to the binding, sent to its source');
  assert.equal((await natted.register({ expires: 0 })).reply.status, 200);
});

test('a caller cannot claim another From than its credentials', async () => {
  const from = await ua('3001');
  const first = await from.request('INVITE', { uri: 'sip:3002@127.0.0.1', to: '<sip:3002@127.0.0.1>', from: '<sip:3003@127.0.0.1>;tag=x', callId: 'spoof-1' });
  const auth = from.authorize('INVITE', 'sip:3002@127.0.0.1', first, 'proxy-authenticate');
  const second = await from.request('INVITE', { uri: 'sip:3002@127.0.0.1', to: '<sip:3002@127.0.0.1>', from: '<sip:3003@127.0.0.1>;tag=x', callId: 'spoof-1', headers: [`Proxy-Authorization: ${auth}`] });
  assert.equal(second.status, 403);
});

test('every final response the server makes up itself carries a To tag (RFC 3261 §8.2.6.2)', async () => {
  for (const u of uas) u.onRequest = () => null;
  const a = await ua('3001');
  const hasTag = (r: { headers: Map<string, string[]> }) => /;\s*tag=/i.test(r.headers.get('to')?.[0] ?? '');
  const seen: string[] = [];
  const check = (r: { status: number; headers: Map<string, string[]> }, want: number) => {
    assert.equal(r.status, want);
    assert.ok(hasTag(r), `the ${want} has a To tag: ${r.headers.get('to')?.[0]}`);
    seen.push(String(want));
  };
  check(await a.request('REGISTER', { uri: `sip:127.0.0.1:${sipPort}` }), 401);
  check(await a.request('REGISTER', { uri: `sip:127.0.0.1:${sipPort}`, headers: ['Require: no-such-extension'] }), 420);
  check(await a.request('OPTIONS', { uri: `sip:127.0.0.1:${sipPort}`, headers: ['Require: no-such-extension'] }), 420);
  check(await a.request('FROBNICATE', { uri: `sip:127.0.0.1:${sipPort}` }), 501);
  check(await a.request('REGISTER', { uri: `sip:127.0.0.1:${sipPort}`, contact: '<sip:3001@127.0.0.1;bad' }), 400);
  const base = { uri: 'sip:3003@127.0.0.1', to: '<sip:3003@127.0.0.1>', from: '<sip:3001@127.0.0.1>;tag=tt1', callId: 'to-tag-1' };
  const challenge = await a.request('INVITE', base);
  check(challenge, 407);
  a.sendRaw(ackFor(challenge, a, base.uri));
  const auth = a.authorize('INVITE', base.uri, challenge, 'proxy-authenticate');
  // 3003 has no binding now: the server answers 480 itself.
  const unavailable = await a.request('INVITE', { ...base, headers: [`Proxy-Authorization: ${auth}`] });
  check(unavailable, 480);
  a.sendRaw(ackFor(unavailable, a, base.uri));
  // A version the parser refuses is answered by the stack itself.
  const v = Buffer.from(
    `OPTIONS sip:127.0.0.1:${sipPort} SIP/7.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${a.port};branch=z9hG4bK-vers\r\nMax-Forwards: 70\r\n` +
      `From: <sip:3001@127.0.0.1>;tag=v1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: vers-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`,
    'latin1',
  );
  a.sendRaw(v);
  check(await waitForBranch(a, 'z9hG4bK-vers'), 505);
  assert.deepEqual(seen, ['401', '420', '420', '501', '400', '407', '480', '505']);
});

async function invite(caller: TestUa, callee: string, timeoutMs = 5000) {
  const callId = `call-${Math.random().toString(36).slice(2)}`;
  const base = { uri: `sip:${callee}@127.0.0.1`, to: `<sip:${callee}@127.0.0.1>`, from: `<sip:${caller.user}@127.0.0.1>;tag=c${callId}`, callId };
  const first = await caller.request('INVITE', base);
  assert.equal(first.status, 407);
  caller.sendRaw(ackFor(first, caller, base.uri));
  const auth = caller.authorize('INVITE', base.uri, first, 'proxy-authenticate');
  const res = await caller.request('INVITE', { ...base, headers: [`Proxy-Authorization: ${auth}`], timeoutMs });
  if (res.status >= 300) caller.sendRaw(ackFor(res, caller, base.uri));
  return res;
}

function ackFor(res: { headers: Map<string, string[]> }, ua: TestUa, uri: string): string {
  const g = (n: string) => res.headers.get(n)![0]!;
  return `ACK ${uri} SIP/2.0\r\nVia: ${g('via')}\r\nMax-Forwards: 70\r\nFrom: ${g('from')}\r\nTo: ${g('to')}\r\nCall-ID: ${g('call-id')}\r\nCSeq: ${g('cseq').split(' ')[0]} ACK\r\nContent-Length: 0\r\n\r\n`;
}

async function inDialog(ua: TestUa, ok: { headers: Map<string, string[]> }, method: string, target: string) {
  const g = (n: string) => ok.headers.get(n)![0]!;
  const routes = (ok.headers.get('record-route') ?? []).slice().reverse();
  const r = await ua.request(method, { uri: target, from: g('from'), to: g('to'), callId: g('call-id'), cseq: 10, headers: routes.map((x) => `Route: ${x}`) });
  assert.equal(r.status, 200, `${method} in dialog`);
}

async function waitForBranch(ua: TestUa, branch: string) {
  return ua.waitReply((r) => (r.headers.get('via')?.[0] ?? '').includes(branch), 3000);
}

async function until(cond: () => boolean, timeoutMs = 3000) {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}
