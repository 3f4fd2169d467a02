// What a restart does to calls in progress: an answered call's dialog is kept, so the
// BYE after the restart still reaches the other party and the call gets its CDR; and
// an in-dialog request for a dialog the server never knew (lost in a crash) is still
// routed by its Route header, but only between registered phones (no open relay).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createToken, freePort, freeSipPort, runCli, RunningServer, tempDir, writeConfig } from '../helpers/server.ts';
import { TestUa, type SipReply } from '../helpers/sip-client.ts';

const dir = tempDir();
let file: string;
let port: number;
let sipPort: number;
let token: string;
let server: RunningServer;
const PW: Record<string, string> = { '5001': 'hT5-jK8-lM2-nB4', '5002': 'gF6-dS9-aQ3-wE7' };
const agents: TestUa[] = [];

before(async () => {
  port = await freePort();
  sipPort = await freeSipPort();
  file = writeConfig(dir, { port, sipPort });
  token = await createToken(file);
  for (const [n, pw] of Object.entries(PW)) assert.equal((await runCli(['ext', 'add', n, '--password', pw, '--config', file])).code, 0);
  server = await RunningServer.start(file, port);
});
after(async () => {
  for (const a of agents) a.close();
  await server?.stop();
});

async function phone(user: string): Promise<TestUa> {
  const u = await new TestUa({ host: '127.0.0.1', port: sipPort }, user, PW[user]!).open();
  agents.push(u);
  assert.equal((await u.register({ expires: 600 })).reply.status, 200);
  return u;
}

const contactOf = (u: TestUa) => `sip:${u.user}@127.0.0.1:${u.port}`;
const header = (r: { headers: Map<string, string[]> }, n: string) => r.headers.get(n)?.[0] ?? '';

/** An answered call from `caller` to `callee`; returns the 200 the caller got. */
async function call(caller: TestUa, callee: TestUa, callId: string): Promise<SipReply> {
  callee.onRequest = (req) =>
    req.method === 'INVITE' ? [{ status: 180, reason: 'Ringing' }, { status: 200, reason: 'OK', extra: [`Contact: <${contactOf(callee)}>`] }] : { status: 200, reason: 'OK' };
  const base = { uri: `sip:${callee.user}@127.0.0.1`, to: `<sip:${callee.user}@127.0.0.1>`, from: `<sip:${caller.user}@127.0.0.1>;tag=c-${callId}`, callId };
  const challenge = await caller.request('INVITE', base);
  assert.equal(challenge.status, 407);
  caller.sendRaw(ack(challenge, base.uri, []));
  const auth = caller.authorize('INVITE', base.uri, challenge, 'proxy-authenticate');
  const ok = await caller.request('INVITE', { ...base, cseq: 2, headers: [`Proxy-Authorization: ${auth}`] });
  assert.equal(ok.status, 200);
  caller.sendRaw(ack(ok, contactOf(callee), routeSet(ok)));
  return ok;
}

function routeSet(ok: SipReply): string[] {
  return (ok.headers.get('record-route') ?? []).slice().reverse();
}

function ack(res: SipReply, uri: string, routes: string[]): string {
  return (
    `ACK ${uri} SIP/2.0\r\nVia: ${header(res, 'via')}\r\n${routes.map((r) => `Route: ${r}\r\n`).join('')}Max-Forwards: 70\r\n` +
    `From: ${header(res, 'from')}\r\nTo: ${header(res, 'to')}\r\nCall-ID: ${header(res, 'call-id')}\r\nCSeq: ${header(res, 'cseq').split(' ')[0]} ACK\r\nContent-Length: 0\r\n\r\n`
  );
}

async function activeCalls(): Promise<unknown[]> {
  const r = await server.api('GET', '/api/calls', token);
  assert.equal(r.status, 200);
  return r.json.calls ?? r.json;
}

test('an answered call survives a restart: the BYE reaches the callee and the call gets its CDR', async () => {
  const caller = await phone('5001');
  const callee = await phone('5002');
  const ok = await call(caller, callee, 'restart-call-1');
  assert.equal((await activeCalls()).length, 1);

  await server.stop();
  server = await RunningServer.start(file, port);
  assert.equal((await activeCalls()).length, 1, 'the answered call is still listed after the restart');

  const bye = await caller.request('BYE', { uri: contactOf(callee), from: header(ok, 'from'), to: header(ok, 'to'), callId: 'restart-call-1', cseq: 3, headers: routeSet(ok).map((r) => `Route: ${r}`) });
  assert.equal(bye.status, 200, `the BYE was relayed and answered, not ${bye.status} ${bye.reason}`);
  await callee.waitRequest((r) => r.method === 'BYE' && header(r, 'call-id') === 'restart-call-1');
  assert.equal((await activeCalls()).length, 0);
  const cdr = await server.api('GET', '/api/cdr', token);
  const row = cdr.json.cdr.find((c: { call_id: string }) => c.call_id === 'restart-call-1');
  assert.ok(row, 'the call has a CDR');
  assert.equal(row.result, 'answered');
  assert.equal(row.hangup_side, 'caller');
  assert.ok(row.answered_at, 'with the time it was answered, from before the restart');
  assert.ok(Date.parse(row.answered_at) < Date.parse(row.ended_at));
});

test('an in-dialog request for a dialog the server never knew is routed by its Route header, only between registered phones', async () => {
  const caller = await phone('5001');
  const callee = await phone('5002');
  callee.onRequest = () => ({ status: 200, reason: 'OK' });
  const ourRoute = `<sip:127.0.0.1:${sipPort};transport=udp;lr>`;
  const inDialog = (ua: TestUa, callId: string, uri: string, route = ourRoute) =>
    ua.request('INFO', { uri, from: `<sip:${ua.user}@127.0.0.1>;tag=lost-a`, to: `<sip:5002@127.0.0.1>;tag=lost-b`, callId, cseq: 7, headers: [`Route: ${route}`] });

  const relayed = await inDialog(caller, 'lost-dialog-1', contactOf(callee));
  assert.equal(relayed.status, 200, `relayed by its Route header, not ${relayed.status} ${relayed.reason}`);
  const got = await callee.waitRequest((r) => r.method === 'INFO' && header(r, 'call-id') === 'lost-dialog-1');
  assert.ok(!got.headers.has('route') || !(got.headers.get('route') ?? []).some((r) => r.includes(`:${sipPort};`)), 'our own Route entry is consumed');

  // Not to an address that is no registered phone: no open relay.
  const elsewhere = await inDialog(caller, 'lost-dialog-2', 'sip:5002@127.0.0.1:9');
  assert.equal(elsewhere.status, 481);
  // Not from someone who is not the registered From user.
  const stranger = await new TestUa({ host: '127.0.0.1', port: sipPort }, '5999', 'x').open();
  agents.push(stranger);
  const fromStranger = await inDialog(stranger, 'lost-dialog-3', contactOf(callee));
  assert.equal(fromStranger.status, 481);
  // Not without our Route on top.
  const noRoute = await inDialog(caller, 'lost-dialog-4', contactOf(callee), '<sip:192.0.2.1;lr>');
  assert.equal(noRoute.status, 481);
  assert.equal(callee.requests.filter((r) => r.method === 'INFO').length, 1, 'only the legitimate one reached the callee');
});
