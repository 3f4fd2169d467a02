// api.workers: phones' downloads are served by worker processes beside the main one,
// every connection going to whichever process accepts it. What must hold across them:
// a digest nonce is used once whichever process the answer reaches, a scanner's ban is
// known everywhere before its next request, and a change made through the API (device,
// config) is served by every process once the API has answered.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createToken, freePort, freeSipPort, HTTP_WORKERS, RunningServer, tempDir, writeConfig } from '../helpers/server.ts';
import { digestAuthorization, getFrom, parseChallenges } from '../helpers/http-digest.ts';
import { execFile } from 'node:child_process';
import { Netns } from '../helpers/netns.ts';

const WORKERS = HTTP_WORKERS || 2;
const MAC = '001565a0b001';
const path = `/provision/${MAC}.cfg`;
let server: RunningServer;
let token: string;
let cred: { user: string; password: string };
/** The scanner and its neighbour live on another host (a network namespace): bans never touch this host's own addresses. */
const netns = new Netns('hwk');

before(async () => {
  const dir = tempDir();
  const port = await freePort();
  const file = writeConfig(dir, { port, sipPort: await freeSipPort(), logLevel: 'debug' });
  let text = readFileSync(file, 'utf8')
    .replace('provisioning:\n', 'provisioning:\n  auth:\n    first_fetch_minutes: 0\n')
    .replace('api:\n  host: 127.0.0.1\n', 'api:\n  host: 0.0.0.0\n');
  if (!HTTP_WORKERS) text = text.replace(`  port: ${port}\n`, `  port: ${port}\n  workers: ${WORKERS}\n`);
  writeFileSync(file, text);
  token = await createToken(file);
  server = await RunningServer.start(file, port);
  await server.waitForLog(new RegExp(`HTTP served by ${WORKERS} worker process`), 10_000);
});
after(async () => {
  await server?.stop();
  netns.close();
});

/** A request on a connection of its own: the kernel may hand it to any process. */
const fresh = (p: string, localAddress: string, headers: Record<string, string> = {}) =>
  getFrom({ port: server.port, path: p, localAddress, headers: { connection: 'close', ...headers } });

type LogLine = ReturnType<RunningServer['lines']>[number];

/** The process that wrote a log line: a worker's number, or 0 for the main process. */
const processOf = (l: LogLine) => (typeof l.worker === 'number' ? l.worker : 0);

/**
 * `read()` again until its lines come from at least `processes` processes, or `timeoutMs`
 * passed: a worker's log reaches the test through its pipe, up to 50 ms after it was
 * written (util/buffered-output.ts), maybe after the answer.
 */
async function fromProcesses(read: () => LogLine[], processes: number, timeoutMs = 3000): Promise<LogLine[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = read();
    if (new Set(found.map(processOf)).size >= processes || Date.now() > deadline) return found;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Which process served each delivery to `ip`, once they come from at least `processes` processes (fromProcesses). */
async function servedByEventually(ip: string, message: RegExp, processes = 1): Promise<number[]> {
  const lines = await fromProcesses(() => server.lines().filter((l) => l.ip === ip && message.test(l.msg)), processes);
  return lines.map(processOf);
}

/** A GET from the other host (`from`: its address there), on a connection of its own; resolves with the status. */
function fromNetns(p: string, from: string): Promise<number> {
  return netns.getStatus(`http://${netns.hostIp}:${server.port}${p}`, from);
}

function workerPids(): number[] {
  const children = readFileSync(`/proc/${server.child.pid}/task/${server.child.pid}/children`, 'utf8').trim();
  return children ? children.split(/\s+/).map(Number) : [];
}

test('the workers run beside the main process, and the API answers through any of them', async () => {
  const pids = workerPids();
  assert.equal(pids.length, WORKERS, `worker processes: ${pids.join(' ')}`);
  for (const pid of pids) assert.match(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), /http-worker\.js/);
  for (let i = 0; i < 20; i++) {
    const r = await fresh('/api/extensions', '127.0.3.1', { authorization: `Bearer ${token}` });
    assert.equal(r.status, 200, `${r.status} ${r.body} ${JSON.stringify(r.headers)}`);
  }
  const noToken = await fresh('/api/extensions', '127.0.3.1');
  assert.equal(noToken.status, 401);
});

test('a device created through the API is served by every process at once', async () => {
  const ext = await server.api('POST', '/api/extensions', token, { number: '7301' });
  assert.equal(ext.status, 201);
  const dev = await server.api('POST', '/api/provisioning/devices', token, { mac_address: MAC, extension_number: '7301', vendor: 'yealink', model: 'T46S' });
  assert.equal(dev.status, 201);
  cred = { user: dev.json.provisioning_username, password: dev.json.provisioning_password };
  for (let i = 0; i < 24; i++) {
    const r = await fresh(path, '127.0.3.2');
    assert.equal(r.status, 401, `fetch ${i}: the device is known (401 asks for its credential, 404 would mean unknown)`);
  }
  const seen = new Set(await servedByEventually('127.0.3.2', /without its provisioning credential/, 2));
  assert.ok(seen.size >= 2, `requests reached ${[...seen].join(', ')}: more than one process`);
});

test('a bulk import of 300 devices is a few reloads in each worker, not one per device, and every process serves the new devices once the API has answered', async () => {
  const csv = ['mac,vendor,model,lines', ...Array.from({ length: 300 }, (_, i) => `001565c1${String(i).padStart(4, '0')},yealink,T46S,7301`)].join('\n');
  const before = server.lines().length;
  const res = await fetch(`${server.base}/api/provisioning/devices/import`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'text/csv' }, body: csv });
  assert.equal(res.status, 200, await res.text());
  for (let i = 0; i < 12; i++) assert.equal((await fresh('/provision/001565c10299.cfg', '127.0.3.3')).status, 401, `fetch ${i}: the last device imported is known`);
  const reloads = await fromProcesses(
    () =>
      server
        .lines()
        .slice(before)
        .filter((l) => typeof l.worker === 'number' && /^Reloading .*devices.* for \d+ change notice/.test(l.msg)),
    WORKERS,
  );
  const perWorker = new Map<number, number>();
  for (const l of reloads) perWorker.set(l.worker as number, (perWorker.get(l.worker as number) ?? 0) + 1);
  assert.equal(perWorker.size, WORKERS, `every worker reloaded: ${JSON.stringify([...perWorker])}`);
  for (const [w, n] of perWorker) assert.ok(n <= 10, `worker ${w} reloaded ${n} times for 300 devices`);
  const notices = reloads.filter((l) => l.worker === 1).reduce((a, l) => a + (l.notices as number), 0);
  assert.ok(notices >= 1, 'the reloads stand for the import\'s notices');
});

test("one client's digest fetches spread over the processes: each answer is accepted once, wherever it lands", async () => {
  let crossed = 0;
  for (let i = 0; i < 24; i++) {
    const ip = `127.0.4.${i + 1}`;
    const challenge = await fresh(path, ip);
    assert.equal(challenge.status, 401);
    const c = parseChallenges([challenge.headers['www-authenticate'] ?? []].flat().join(', ')).find((x) => x.algorithm === 'MD5')!;
    const issuer = c.nonce.slice(0, c.nonce.indexOf('.'));
    const authorization = digestAuthorization(c, cred, 'GET', path);
    const answer = await fresh(path, ip, { authorization });
    assert.equal(answer.status, 200, `fetch ${i} (nonce from ${issuer})`);
    assert.match(answer.body, /account\.1\.user_name = 7301/);
    for (let r = 0; r < 3; r++) assert.equal((await fresh(path, ip, { authorization })).status, 401, `replay ${r} of fetch ${i} refused`);
    const [by] = await servedByEventually(ip, /Provisioning config delivered/);
    assert.notEqual(by, undefined, 'the delivery is logged');
    if ((by === 0 ? 'p' : `w${by}`) !== issuer) crossed++;
  }
  assert.ok(crossed >= 1, `answers served by another process than their challenge: ${crossed} of 24`);
});

test('a config change through the API is in the file every process serves', async () => {
  const put = await server.api('PUT', '/api/config', token, { values: { 'provisioning.site.timezone': 'America/New_York' } });
  assert.equal(put.status, 200, put.text);
  for (let i = 0; i < 12; i++) {
    const ip = `127.0.5.${i + 1}`;
    const challenge = await fresh(path, ip);
    const c = parseChallenges([challenge.headers['www-authenticate'] ?? []].flat().join(', ')).find((x) => x.algorithm === 'MD5')!;
    const r = await fresh(path, ip, { authorization: digestAuthorization(c, cred, 'GET', path) });
    assert.equal(r.status, 200);
    assert.match(r.body, /local_time\.time_zone = -5/, `fetch ${i}`);
  }
});

test('the shared listening socket keeps the queue api.backlog asks for, whichever processes listen on it', async () => {
  // Node re-listens a socket handed to a child with a queue of 511; each worker sets it back.
  const want = Math.min(4096, Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8')));
  const queue = await new Promise<string>((ok, fail) =>
    execFile('ss', ['-lntH', `sport = :${server.port}`], (err, stdout) => (err ? fail(err) : ok(stdout))),
  );
  const sizes = queue.trim().split('\n').map((l) => Number(l.trim().split(/\s+/)[2]));
  assert.ok(sizes.length >= 1, queue);
  assert.deepEqual([...new Set(sizes)], [want], `listen queue (Send-Q): ${queue}`);
});

test('a scanner is banned by every process before its next request', async () => {
  const scanner = netns.peerIp;
  const statuses: number[] = [];
  for (let i = 0; i < 40 && !statuses.includes(403); i++) statuses.push(await fromNetns(`/provision/001565ff${String(i).padStart(4, '0')}.cfg`, scanner));
  const banAt = statuses.indexOf(403);
  assert.ok(banAt > 0 && banAt <= 11, `banned after ${banAt} misses: ${statuses.join(',')}`);
  assert.ok(new Set(await servedByEventually(scanner, /not registered in provisioning system/, 2)).size >= 2, 'the misses reached more than one process');
  for (let i = 0; i < 20; i++) assert.equal(await fromNetns(path, scanner), 403, `request ${i} after the ban`);
  // Its phone next door (another address on the same link) is not affected.
  assert.equal(await fromNetns(path, netns.peerIp2), 401);
});

test('a worker that dies is replaced, and phones keep being served', async () => {
  const [victim] = workerPids();
  process.kill(victim!, 'SIGKILL');
  await server.waitForLog(/HTTP worker \d ended \(SIGKILL\); starting another/, 5000);
  const deadline = Date.now() + 10_000;
  while (workerPids().length < WORKERS || workerPids().includes(victim!)) {
    assert.ok(Date.now() < deadline, 'a new worker started');
    await new Promise((r) => setTimeout(r, 100));
  }
  for (let i = 0; i < 20; i++) assert.equal((await fresh(path, '127.0.7.1')).status, 401, `request ${i}`);
});

test('SIGTERM stops the workers with the main process', async () => {
  const pids = workerPids();
  assert.equal(await server.stop(), 0);
  for (const pid of pids) assert.throws(() => process.kill(pid, 0), `worker ${pid} is gone`);
});
