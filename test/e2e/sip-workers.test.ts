// SIP worker processes (sip.workers: 1): the primary and a worker read the same UDP port,
// REGISTERs are spread over them by source, and everything else stays with the primary.
// What must hold whichever process reads a datagram: every binding reaches the primary
// (listed, called, kept over a restart), a phone's challenge and answer meet in one
// process, a nonce is never accepted by a process that did not issue it, and a worker
// that dies is replaced without a REGISTER going unanswered.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createToken, freePort, freeSipPort, runCli, RunningServer, SIP_WORKERS, tempDir, writeConfig } from '../helpers/server.ts';
import { TestUa } from '../helpers/sip-client.ts';
import { sourceHash } from '../../src/sip/datagram-relay.ts';

const dir = tempDir();
const PASSWORD = 'Wq7-hX3-pL9-tZ2';
const EXTENSIONS = Array.from({ length: 24 }, (_, i) => String(5100 + i));
let server: RunningServer;
let token: string;
let sipPort: number;
let port: number;
let configFile: string;
const agents: TestUa[] = [];

/** The process a REGISTER from this local port is steered to: 0 the primary, 1 the worker. */
const ownerOf = (ua: TestUa) => sourceHash('127.0.0.1', ua.port) % 2;

before(async () => {
  sipPort = await freeSipPort();
  port = await freePort();
  // One worker, whether or not the run asks every server for some.
  configFile = writeConfig(dir, { port, sipPort, extra: SIP_WORKERS ? '' : 'sip:\n  workers: 1\n' });
  token = await createToken(configFile);
  const csv = ['number,password', ...EXTENSIONS.map((n) => `${n},${PASSWORD}`)].join('\n');
  server = await RunningServer.start(configFile, port);
  const imported = await fetch(`${server.base}/api/extensions/import`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'text/csv' }, body: csv });
  assert.equal(imported.status, 200, await imported.text());
  await server.waitForLog(/REGISTERs on the SIP UDP port answered by 2 processes/, 10_000);
});
after(async () => {
  for (const a of agents) a.close();
  await server?.stop();
});

async function phone(user: string): Promise<TestUa> {
  const ua = await new TestUa({ host: '127.0.0.1', port: sipPort }, user, PASSWORD).open();
  agents.push(ua);
  return ua;
}

/** A phone whose REGISTERs go to this process. */
async function phoneAt(user: string, owner: number): Promise<TestUa> {
  for (;;) {
    const ua = await phone(user);
    if (ownerOf(ua) === owner) return ua;
  }
}

/** "Extension n registered …" lines, with the worker that wrote each (0: the primary). */
function registeredBy(): Map<string, number> {
  const by = new Map<string, number>();
  for (const line of server.log.split('\n')) {
    const m = /Extension (\d+) registered sip:/.exec(line);
    if (!m) continue;
    const worker = /"worker":(\d+)/.exec(line);
    by.set(m[1]!, worker ? Number(worker[1]) : 0);
  }
  return by;
}

test('REGISTERs are answered by both processes, and every binding reaches the primary: listed and called', async () => {
  const phones = await Promise.all(EXTENSIONS.slice(0, 16).map(phone));
  const replies = await Promise.all(phones.map((p) => p.register({ expires: 600 })));
  assert.deepEqual(replies.map((r) => r.reply.status), phones.map(() => 200));
  await server.waitForLog(new RegExp(`Extension ${EXTENSIONS[15]} registered`));
  const by = registeredBy();
  const byWorker = EXTENSIONS.slice(0, 16).filter((n) => by.get(n) === 1);
  const byPrimary = EXTENSIONS.slice(0, 16).filter((n) => by.get(n) === 0);
  assert.equal(byWorker.length + byPrimary.length, 16, server.log);
  assert.ok(byWorker.length > 0 && byPrimary.length > 0, `registered by the worker: ${byWorker.join(' ')}; by the primary: ${byPrimary.join(' ')}`);

  // The primary lists them all (the worker's reached it over IPC) …
  const listed = await server.api('GET', '/api/registrations', token);
  assert.equal(listed.status, 200);
  const extensions = new Set((listed.json.registrations as { extension: string }[]).map((r) => r.extension));
  for (const n of EXTENSIONS.slice(0, 16)) assert.ok(extensions.has(n), `${n} listed`);

  // … and routes a call to a phone whose REGISTER the worker answered.
  const callee = phones[EXTENSIONS.indexOf(byWorker[0]!)]!;
  const caller = phones[EXTENSIONS.indexOf(byPrimary[0]!)]!;
  const call = await caller.invite(callee.user, 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n');
  assert.equal(call.status, 200);
  await callee.waitRequest((r) => r.method === 'INVITE');
  assert.equal((await caller.bye(call)).status, 200);

  // What the worker counted shows in the primary's figures (reported every second).
  const deadline = Date.now() + 5000;
  let accepted = 0;
  while (Date.now() < deadline) {
    const status = await server.api('GET', '/api/status', token);
    accepted = status.json.sip.registrations.accepted;
    if (accepted >= 16) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.ok(accepted >= 16, `registrations accepted: ${accepted}`);
});

test("a phone's challenge and answer meet in one process; a nonce answered from a socket of the other process is stale, and never accepted twice", async () => {
  const user = EXTENSIONS[16]!;
  const atWorker = await phoneAt(user, 1);
  const atPrimary = await phoneAt(user, 0);
  for (const [issuer, other] of [
    [atWorker, atPrimary],
    [atPrimary, atWorker],
  ] as const) {
    const to = `<sip:${user}@127.0.0.1>`;
    const from = () => `<sip:${user}@127.0.0.1>;tag=${Math.random().toString(36).slice(2)}`;
    const challenge = await issuer.request('REGISTER', { to, from: from(), headers: ['Expires: 300'] });
    assert.equal(challenge.status, 401);
    const authorization = issuer.authorize('REGISTER', `sip:127.0.0.1:${sipPort}`, challenge, 'www-authenticate');
    const withAuth = (ua: TestUa) => ua.request('REGISTER', { to, from: from(), headers: ['Expires: 300', `Authorization: ${authorization}`] });

    // Answered from a socket the other process serves: a fresh challenge there, marked stale.
    const elsewhere = await withAuth(other);
    assert.equal(elsewhere.status, 401);
    assert.match(elsewhere.headers.get('www-authenticate')!.join(' '), /stale=true/);
    // At the process that issued it: accepted once.
    assert.equal((await withAuth(issuer)).status, 200);
    // Replayed at either process: refused.
    assert.equal((await withAuth(issuer)).status, 401);
    assert.equal((await withAuth(other)).status, 401);
  }
  // A stale nonce is no failed password: nothing counted against the phone.
  assert.doesNotMatch(server.log, new RegExp(`authentication failed for ${user} from 127\\.0\\.0\\.1: (bad_nonce|wrong_password)`));
});

test("a binding the worker made is written by the primary: it is there after a restart", async () => {
  const ua = await phoneAt(EXTENSIONS[17]!, 1);
  assert.equal((await ua.register({ expires: 600 })).reply.status, 200);
  assert.equal(registeredBy().get(ua.user), 1, 'the worker answered it');

  await server.stop();
  server = await RunningServer.start(configFile, port);
  await server.waitForLog(/REGISTERs on the SIP UDP port answered by 2 processes/, 10_000);
  const listed = await server.api('GET', '/api/registrations', token);
  assert.ok((listed.json.registrations as { extension: string; source: string }[]).some((r) => r.extension === ua.user && r.source === `127.0.0.1:${ua.port}`), JSON.stringify(listed.json));
});

test('a worker killed with SIGKILL is replaced, and no REGISTER goes unanswered meanwhile', async () => {
  const pids = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(server.child.pid)], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.includes('sip-worker.js'))
    .map((l) => Number(l.trim().split(/\s+/)[0]));
  assert.equal(pids.length, 1, 'one SIP worker process');
  process.kill(pids[0]!, 'SIGKILL');
  await server.waitForLog(/SIP worker 1 ended \(SIGKILL\)/);
  // While it is gone and once it is back: every REGISTER answered (by whichever process is in rotation).
  const phones = await Promise.all(EXTENSIONS.slice(18).map(phone));
  for (const p of phones) assert.equal((await p.register()).reply.status, 200);
  await server.waitForLog(/SIP worker 1 is back/, 10_000);
  for (const p of phones) assert.equal((await p.register()).reply.status, 200);
});
