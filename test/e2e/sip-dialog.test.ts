// Requests inside a call pass the proxy correctly in both directions: re-INVITE
// (hold/resume) with its ACK, UPDATE, INFO, MESSAGE, REFER (blind transfer), PRACK in
// the early dialog, and BYE; and only the dialog's parties may use it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createToken, freePort, freeSipPort, runCli, RunningServer, tempDir, writeConfig } from '../helpers/server.ts';
import { TestUa, type SipReply } from '../helpers/sip-client.ts';

const dir = tempDir();
let server: RunningServer;
let token: string;
let sipPort: number;
const PW: Record<string, string> = { '5001': 'dR4-eT5-yU6-iO7', '5002': 'fG8-hJ9-kL1-zX2', '5003': 'qW3-eR4-tY5-uI6' };
const agents: TestUa[] = [];

before(async () => {
  sipPort = await freeSipPort();
  const port = await freePort();
  const file = writeConfig(dir, { port, sipPort });
  token = await createToken(file);
  for (const [n, pw] of Object.entries(PW)) assert.equal((await runCli(['ext', 'add', n, '--password', pw, '--config', file])).code, 0);
  server = await RunningServer.start(file, port);
});
after(async () => {
  for (const a of agents) a.close();
  await server?.stop();
});

async function agent(user: string): Promise<TestUa> {
  const a = await new TestUa({ host: '127.0.0.1', port: sipPort }, user, PW[user]!).open();
  agents.push(a);
  return a;
}

interface Dialog {
  callId: string;
  localUri: string;
  local: string;
  remote: string;
  target: string;
  routes: string[];
  cseq: number;
}

/** The caller's view of a dialog from the 2xx (route set = reversed Record-Route). */
function callerDialog(ok: SipReply, calleePort: number): Dialog {
  const g = (n: string) => ok.headers.get(n)![0]!;
  return { callId: g('call-id'), localUri: '', local: g('from'), remote: g('to'), target: `sip:5002@127.0.0.1:${calleePort}`, routes: [...(ok.headers.get('record-route') ?? [])].reverse(), cseq: 100 };
}

async function inDialog(ua: TestUa, d: Dialog, method: string, extra: string[] = [], body?: string) {
  return ua.request(method, { uri: d.target, from: d.local, to: d.remote, callId: d.callId, cseq: d.cseq++, headers: [...d.routes.map((r) => `Route: ${r}`), ...extra], body });
}

async function call(caller: TestUa, callee: TestUa, extra: string[] = []) {
  const callId = `dlg-${Math.random().toString(36).slice(2)}`;
  const base = { uri: 'sip:5002@127.0.0.1', to: '<sip:5002@127.0.0.1>', from: `<sip:${caller.user}@127.0.0.1>;tag=a${callId}`, callId };
  const first = await caller.request('INVITE', base);
  assert.equal(first.status, 407);
  const auth = caller.authorize('INVITE', base.uri, first, 'proxy-authenticate');
  const ok = await caller.request('INVITE', { ...base, headers: [`Proxy-Authorization: ${auth}`, ...extra] });
  return { ok, callId, dialog: callerDialog(ok, callee.port) };
}

test('in-dialog requests pass in both directions; the call is tracked until BYE', async () => {
  const callee = await agent('5002');
  const caller = await agent('5001');
  assert.equal((await callee.register()).reply.status, 200);
  callee.onRequest = (req) => ({ status: 200, reason: 'OK', extra: req.method === 'INVITE' ? [`Contact: <sip:5002@127.0.0.1:${callee.port}>`] : [] });
  caller.onRequest = () => ({ status: 200, reason: 'OK' });

  const { ok, dialog } = await call(caller, callee);
  assert.equal(ok.status, 200);
  assert.equal(dialog.routes.length, 1);
  caller.sendRaw(`ACK ${dialog.target} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${caller.port};branch=z9hG4bKack1\r\nMax-Forwards: 70\r\nFrom: ${dialog.local}\r\nTo: ${dialog.remote}\r\nCall-ID: ${dialog.callId}\r\nCSeq: 2 ACK\r\nRoute: ${dialog.routes[0]}\r\nContent-Length: 0\r\n\r\n`);
  await callee.waitRequest((r) => r.method === 'ACK' && r.headers.get('call-id')![0] === dialog.callId);
  const calls = await server.api('GET', '/api/calls', token);
  assert.equal(calls.json.calls.find((c: any) => c.call_id === dialog.callId)?.state, 'answered');

  // Hold and resume: re-INVITEs with SDP direction changes.
  for (const dir_ of ['sendonly', 'sendrecv']) {
    const re = await inDialog(caller, dialog, 'INVITE', ['Content-Type: application/sdp'], `v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=${dir_}\r\n`);
    assert.equal(re.status, 200, `re-INVITE (${dir_})`);
    const seen = await callee.waitRequest((r) => r.method === 'INVITE' && r.raw.includes(`a=${dir_}`));
    assert.ok(seen.headers.get('to')![0]!.includes('tag='), 'arrives as an in-dialog request');
  }
  for (const m of ['UPDATE', 'INFO', 'MESSAGE']) {
    const r = await inDialog(caller, dialog, m, m === 'INFO' ? ['Content-Type: application/dtmf-relay'] : []);
    assert.equal(r.status, 200, m);
    await callee.waitRequest((x) => x.method === m);
  }
  // Blind transfer: REFER from the callee's side to the caller.
  const calleeView: Dialog = { callId: dialog.callId, localUri: '', local: dialog.remote, remote: dialog.local, target: `sip:5001@127.0.0.1:${caller.port}`, routes: dialog.routes, cseq: 1 };
  const refer = await inDialog(callee, calleeView, 'REFER', ['Refer-To: <sip:5003@127.0.0.1>', `Referred-By: <sip:5002@127.0.0.1>`]);
  assert.equal(refer.status, 200);
  const got = await caller.waitRequest((r) => r.method === 'REFER');
  assert.equal(got.headers.get('refer-to')![0], '<sip:5003@127.0.0.1>');
  assert.ok(got.headers.get('via')!.length >= 2, 'through the proxy');

  // The callee hangs up.
  const bye = await inDialog(callee, calleeView, 'BYE');
  assert.equal(bye.status, 200);
  await caller.waitRequest((r) => r.method === 'BYE');
  const cdr = await server.api('GET', '/api/cdr', token);
  const row = cdr.json.cdr.find((c: any) => c.call_id === dialog.callId);
  assert.equal(row.hangup_side, 'callee');
  assert.equal(row.result, 'answered');
  const after_ = await inDialog(caller, dialog, 'INFO');
  assert.equal(after_.status, 481, 'the dialog is gone after BYE');
  assert.equal((await callee.register({ expires: 0 })).reply.status, 200);
});

test('a 2xx the callee retransmits after the call is answered still reaches the caller (RFC 6026 Accepted)', async () => {
  const callee = await agent('5002');
  const caller = await agent('5001');
  assert.equal((await callee.register()).reply.status, 200);
  const answer = { status: 200, reason: 'OK', extra: [`Contact: <sip:5002@127.0.0.1:${callee.port}>`] };
  callee.onRequest = (req) => (req.method === 'INVITE' ? answer : { status: 200, reason: 'OK' });
  const { ok, callId, dialog } = await call(caller, callee);
  assert.equal(ok.status, 200);
  const invite = await callee.waitRequest((r) => r.method === 'INVITE' && r.headers.get('call-id')![0] === callId, 5000);
  // No ACK yet: the callee sends its 200 again, twice; the proxy's answered branch relays each.
  for (let i = 0; i < 2; i++) {
    const again = caller.waitReply((r) => r.status === 200 && r.headers.get('call-id')![0] === callId, 3000);
    callee.respond(invite, answer);
    const relayed = await again;
    assert.equal(relayed.headers.get('via')!.length, 1, 'the proxy took its own Via off');
    assert.equal(relayed.headers.get('to')![0], ok.headers.get('to')![0]);
  }
  caller.sendRaw(`ACK ${dialog.target} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${caller.port};branch=z9hG4bKack2\r\nMax-Forwards: 70\r\nFrom: ${dialog.local}\r\nTo: ${dialog.remote}\r\nCall-ID: ${callId}\r\nCSeq: 2 ACK\r\nRoute: ${dialog.routes[0]}\r\nContent-Length: 0\r\n\r\n`);
  await callee.waitRequest((r) => r.method === 'ACK' && r.headers.get('call-id')![0] === callId);
  assert.equal((await inDialog(caller, dialog, 'BYE')).status, 200);
  assert.equal((await callee.register({ expires: 0 })).reply.status, 200);
});

test('PRACK in the early dialog reaches the callee (RFC 3262)', async () => {
  const callee = await agent('5002');
  const caller = await agent('5001');
  assert.equal((await callee.register()).reply.status, 200);
  const provisional = { status: 183, reason: 'Session Progress', extra: ['Require: 100rel', 'RSeq: 1', `Contact: <sip:5002@127.0.0.1:${callee.port}>`] };
  callee.onRequest = (req) => (req.method === 'INVITE' ? provisional : { status: 200, reason: 'OK' });
  const callId = `prack-${Math.random().toString(36).slice(2)}`;
  const base = { uri: 'sip:5002@127.0.0.1', to: '<sip:5002@127.0.0.1>', from: `<sip:5001@127.0.0.1>;tag=p${callId}`, callId };
  const first = await caller.request('INVITE', base);
  const auth = caller.authorize('INVITE', base.uri, first, 'proxy-authenticate');
  const early = await caller.request('INVITE', { ...base, headers: [`Proxy-Authorization: ${auth}`, 'Supported: 100rel'], wantProvisional: true, cseq: 50 });
  // Skip the 100 Trying: wait for the 183 itself.
  const p183 = early.status === 183 ? early : await caller.waitReply((r) => r.status === 183 && r.headers.get('call-id')![0] === callId, 5000, true);
  const d = callerDialog(p183, callee.port);
  const prack = await inDialog(caller, d, 'PRACK', ['RAck: 1 50 INVITE']);
  assert.equal(prack.status, 200);
  const seen = await callee.waitRequest((r) => r.method === 'PRACK');
  assert.equal(seen.headers.get('rack')![0], '1 50 INVITE');
});

test('a 407 is sent statelessly: a retransmitted INVITE gets a fresh challenge, and the ACK for a challenge ends in the stack', async () => {
  // 5003: no other test leaves a binding for it (a binding that never answers would hold the call).
  const callee = await agent('5003');
  const caller = await agent('5001');
  assert.equal((await callee.register()).reply.status, 200);
  callee.onRequest = (req) => ({ status: 200, reason: 'OK', extra: req.method === 'INVITE' ? [`Contact: <sip:5003@127.0.0.1:${callee.port}>`] : [] });
  const counter = async () => Number(/^pbx_sip_challenge_acks_absorbed_total (\d+)/m.exec((await server.api('GET', '/metrics', token)).text)?.[1]);
  const absorbedBefore = await counter();

  // The same INVITE twice (a retransmission: same branch): no transaction kept the first
  // 407, so the second is answered anew, with a new nonce.
  const base = { uri: 'sip:5003@127.0.0.1', to: '<sip:5003@127.0.0.1>', from: '<sip:5001@127.0.0.1>;tag=sl1', callId: `sl-${Date.now()}`, cseq: 1, branch: 'z9hG4bKstateless407' };
  const first = await caller.request('INVITE', base);
  const again = await caller.request('INVITE', base);
  assert.equal(first.status, 407);
  assert.equal(again.status, 407);
  const nonce = (r: SipReply) => /nonce="([^"]+)"/.exec(r.headers.get('proxy-authenticate')![0]!)?.[1];
  assert.notEqual(nonce(first), nonce(again), 'each is a new challenge');

  // A whole call the helper ACKs: its 407's ACK is counted as absorbed, and the call goes on.
  const call = await caller.invite('5003', 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n');
  assert.equal(call.status, 200, 'the authenticated INVITE reached the callee');
  let absorbed = absorbedBefore;
  for (let i = 0; i < 20 && absorbed === absorbedBefore; i++) {
    await new Promise((r) => setTimeout(r, 50));
    absorbed = await counter();
  }
  assert.equal(absorbed, absorbedBefore + 1, 'one ACK, for the 407 of the call');
  assert.equal((await caller.bye(call)).status, 200);
  assert.equal((await callee.register({ expires: 0 })).reply.status, 200);
});
