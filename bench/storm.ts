// A boot storm: N phones (Yealink T46S) that all start within SPREAD seconds, as after a
// power cut. Each fetches its boot file, the model's common file and its own file (with
// its digest credential: the first-fetch window is closed here, as for phones that were
// provisioned before), on one HTTP connection of its own (bench/phone-http.ts), then
// registers (digest). Printed: how long until every phone was
// done, failures by kind, 503s (load shedding, retried after Retry-After as phones do),
// HTTP latency percentiles and registrations.
//
//   npm run build && node --import tsx bench/storm.ts           # N=10000, SPREAD=10
//   N=2000 SPREAD=5 node --import tsx bench/storm.ts
//   SHED=98 node --import tsx bench/storm.ts                   # with load shedding (api.shed_busy_percent: 98)
//   WORKERS=2 node --import tsx bench/storm.ts                 # with two HTTP worker processes (api.workers)
//   RENDER_THREADS=0 node --import tsx bench/storm.ts          # render on the event loop (provisioning.render_threads)
//   SETTLE=5 …                                                 # wait 5 s between the import (or restart) and the storm
//   ROUNDS=2 RESTART=1 SAME_PHONES=1 …                         # a power cut: the server restarts, the same phones boot again
//   PREPARE=0 …                                                # provisioning.prepare_files off (files made only when asked)
//   ROUNDS=2 FIRST_N=1000 …                                    # 1,000 phones first, then the storm on the warmed server
//   LOG_LEVEL=warn …                                           # logging.level (default info, as the product's default)
//   KEEP_TMP=1 …                                               # keep the temp folder and the server's log (pbx.log)
//   PBX_NODE_ARGS=--inspect=127.0.0.1:9231 …                   # then bench/profile-window.mjs 127.0.0.1:9231 …
//   FLOOR=1 …                                                  # against bench/storm-floor.mjs (bare node:http + dgram), not the pbx
//
// pbx on 127.0.0.1 (SIP UDP 15260, HTTP 18280); everything stops at the end.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PhoneHttp, type PhoneReply } from './phone-http.js';

const N = Number(process.env['N'] ?? 10_000);
const SPREAD = Number(process.env['SPREAD'] ?? 10);
/** ROUNDS=2: a second storm of N other phones on the same server 5 s later (a warm server against a cold one). */
const ROUNDS = Number(process.env['ROUNDS'] ?? 1);
/** RESTART=1 (with ROUNDS=2): the server restarts before the second storm (as after a power cut), a cold server for a warm client. */
const RESTART = process.env['RESTART'] === '1';
/** SAME_PHONES=1 (with ROUNDS=2): the second storm's phones are the first's, which the server knows (their files can be prepared). */
const SAME_PHONES = process.env['SAME_PHONES'] === '1';
/** FLOOR=1: the storm against bench/storm-floor.mjs, the least a Node server must do for it, instead of the pbx. */
const FLOOR = process.env['FLOOR'] === '1';
const SIP_PORT = 15260;
const HTTP_PORT = 18280;
const ROOT = resolve(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'pbx-storm-'));
const config = join(dir, 'config.yml');
writeFileSync(
  config,
  `server:\n  external_ip: 127.0.0.1\n  sip_host: 127.0.0.1\n  sip_port: ${SIP_PORT}\napi:\n  host: 127.0.0.1\n  port: ${HTTP_PORT}\n  shed_busy_percent: ${process.env['SHED'] ?? 0}\n  workers: ${process.env['WORKERS'] ?? 0}\ndatabase:\n  path: ${join(dir, 'pbx.db')}\nlogging:\n  level: ${process.env['LOG_LEVEL'] ?? 'info'}\n` +
    `provisioning:\n  render_threads: ${process.env['RENDER_THREADS'] ?? 1}\n  prepare_files: ${process.env['PREPARE'] !== '0'}\n  auth:\n    first_fetch_minutes: 0\n  guard:\n    allow: [127.0.0.1]\nsip:\n  guard:\n    max_requests: 1000000\n    allow: [127.0.0.1]\nvoicemail:\n  enabled: false\n`,
);
const md5 = (s: string) => createHash('md5').update(s).digest('hex');
const mac = (i: number) => `0015650${(0x100000 + i).toString(16).slice(1)}`;
const number = (i: number) => String(200000 + i);
const UA = 'Yealink SIP-T46S 66.86.0.15';
let server: ChildProcess | null = null;
const logFile = join(dir, 'pbx.log');

/** A phone's request, its latency counted by the second of the storm it was sent in. */
async function get(http: PhoneHttp, path: string, auth?: string): Promise<PhoneReply> {
  const reply = await http.get(path, auth);
  if (stormStart) (bySecond[Math.floor((reply.sentAt - stormStart) / 1000)] ??= []).push(reply.ms);
  return reply;
}

function digest(challenge: string, user: string, password: string, method: string, uri: string): string {
  const p = (k: string) => new RegExp(`${k}="?([^",]+)"?`).exec(challenge)?.[1] ?? '';
  const cnonce = randomBytes(4).toString('hex');
  const ha1 = md5(`${user}:${p('realm')}:${password}`);
  const response = md5(`${ha1}:${p('nonce')}:00000001:${cnonce}:auth:${md5(`${method}:${uri}`)}`);
  return `Digest username="${user}", realm="${p('realm')}", nonce="${p('nonce')}", uri="${uri}", response="${response}", algorithm=MD5, qop=auth, nc=00000001, cnonce="${cnonce}"${p('opaque') ? `, opaque="${p('opaque')}"` : ''}`;
}

const latencies: number[] = [];
/** Per second of the storm (when the request was sent): the latencies of the requests sent then. */
const bySecond: number[][] = [];
let stormStart = 0;
const failures = new Map<string, number>();
let shed = 0;
const fail = (kind: string) => failures.set(kind, (failures.get(kind) ?? 0) + 1);

/** A phone's GET as a phone does it: 401 → again with the credential; 503 → again after Retry-After. */
async function fetchFile(http: PhoneHttp, path: string, cred: { user: string; password: string }): Promise<boolean> {
  for (let attempt = 0; attempt < 30; attempt++) {
    let r = await get(http, path);
    latencies.push(r.ms);
    if (r.status === 401) {
      r = await get(http, path, digest(r.wwwAuthenticate, cred.user, cred.password, 'GET', path));
      latencies.push(r.ms);
    }
    if (r.status === 503) {
      shed++;
      await new Promise((res) => setTimeout(res, (r.retryAfter || 5) * 1000));
      continue;
    }
    if (r.status !== 200) fail(`${path.includes(mac(0).slice(0, 6)) ? 'device file' : 'file'} ${r.status}`);
    return r.status === 200;
  }
  fail('gave up after 503s');
  return false;
}

const sip = createSocket('udp4');
const waiting = new Map<string, (m: string) => void>();
sip.on('message', (m) => {
  const t = m.toString('latin1');
  const id = /^Call-ID:\s*(\S+)/im.exec(t)?.[1];
  const cseq = /^CSeq:\s*(\d+)/im.exec(t)?.[1];
  // Keyed by Call-ID and CSeq: a late answer to a retransmitted first REGISTER is not the second's.
  if (id && !/^SIP\/2\.0 1\d\d/.test(t)) waiting.get(`${id} ${cseq}`)?.(t);
});

/** A request over UDP, sent again as a phone's transaction does (Timer E: 500 ms doubling to 4 s) until answered; 32 s: timeout. */
function sipSend(text: string, callId: string): Promise<string> {
  return new Promise((ok, no) => {
    let interval = 500;
    let again: NodeJS.Timeout;
    const resend = () => {
      sip.send(text, SIP_PORT, '127.0.0.1');
      again = setTimeout(resend, interval);
      interval = Math.min(interval * 2, 4000);
    };
    const timer = setTimeout(() => (clearTimeout(again), waiting.delete(callId), no(new Error('timeout'))), 32_000);
    waiting.set(callId, (m) => (clearTimeout(timer), clearTimeout(again), waiting.delete(callId), ok(m)));
    resend();
  });
}

async function register(i: number, password: string, round: number): Promise<boolean> {
  const user = number(i);
  const port = sip.address().port;
  // A phone that boots again registers with a new Call-ID (its CSeq starts over).
  const callId = `storm-${round}-${i}`;
  const uri = `sip:127.0.0.1:${SIP_PORT}`;
  const msg = (cseq: number, auth = '') =>
    `REGISTER ${uri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bKs${i}c${cseq};rport\r\nMax-Forwards: 70\r\nFrom: <sip:${user}@127.0.0.1>;tag=s${i}\r\nTo: <sip:${user}@127.0.0.1>\r\n` +
    `Call-ID: ${callId}\r\nCSeq: ${cseq} REGISTER\r\nContact: <sip:${user}@127.0.0.1:${port};line=${i}>\r\nExpires: 3600\r\nUser-Agent: ${UA}\r\n${auth}Content-Length: 0\r\n\r\n`;
  try {
    const challenge = await sipSend(msg(1), `${callId} 1`);
    const header = /^WWW-Authenticate:\s*(.*)$/im.exec(challenge)?.[1] ?? '';
    const ok = await sipSend(msg(2, `Authorization: ${digest(header, user, password, 'REGISTER', uri)}\r\n`), `${callId} 2`);
    if (!ok.startsWith('SIP/2.0 200')) fail(`register ${ok.slice(8, 11)}`);
    return ok.startsWith('SIP/2.0 200');
  } catch {
    fail('register timeout');
    return false;
  }
}

async function api(path: string, token: string, body: string): Promise<any> {
  const res = await fetch(`http://127.0.0.1:${HTTP_PORT}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'text/csv' }, body });
  if (res.status !== 200) throw new Error(`${path}: ${res.status} ${(await res.text()).slice(0, 300)}`);
  return res.json();
}

async function cliToken(): Promise<string> {
  return new Promise((ok) => {
    const c = spawn(process.execPath, [join(ROOT, 'bin/pbx.js'), 'token', 'create', '--name', 'storm', '--config', config]);
    let out = '';
    c.stdout.on('data', (d) => (out += d));
    c.on('close', () => ok(out.trim().split('\n').pop()!));
  });
}

/** The server's CPU time per thread (Linux /proc, in clock ticks), by thread name; null elsewhere. */
function serverCpu(): Map<string, number> | null {
  const pid = server?.pid;
  if (!pid || !existsSync(`/proc/${pid}/task`)) return null;
  const ticks = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      // The name is in parentheses and may hold spaces; utime and stime are fields 14 and 15.
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const thread = tid === String(pid) ? 'main' : `${name}/${tid}`;
      ticks.set(thread, (ticks.get(thread) ?? 0) + Number(f[11]) + Number(f[12]));
    } catch {
      // The thread ended meanwhile.
    }
  }
  return ticks;
}

/** "main 6.1, render 3.2, …" (seconds, at 100 ticks a second): what each thread spent between two readings. */
function cpuSpent(before: Map<string, number> | null, after: Map<string, number> | null): string | null {
  if (!before || !after) return null;
  const spent = [...after].map(([k, v]) => [k, (v - (before.get(k) ?? 0)) / 100] as const).filter(([, s]) => s >= 0.05);
  const total = spent.reduce((t, [, s]) => t + s, 0);
  return `${total.toFixed(2)} (${spent.sort((a, b) => b[1] - a[1]).map(([k, s]) => `${k} ${s.toFixed(2)}`).join(', ')})`;
}

/** Starts the pbx and waits until it listens. */
async function startServer(): Promise<void> {
  // The log goes to a file, as to journald: another process, not this one's event loop.
  const out = openSync(logFile, 'a');
  const what = FLOOR ? [join(ROOT, 'bench/storm-floor.mjs'), String(HTTP_PORT), String(SIP_PORT)] : [join(ROOT, 'bin/pbx.js'), 'serve', '--config', config];
  server = spawn(process.execPath, ['--max-semi-space-size=64', '--v8-pool-size=2', '--test-udp-no-try-send', ...(process.env['PBX_NODE_ARGS'] ?? '').split(' ').filter(Boolean), ...what], { stdio: ['ignore', out, out] });
  closeSync(out);
  const from = statSync(logFile).size;
  // From the byte the restart began at (the log holds "✓": characters are not bytes).
  const started = () => readFileSync(logFile).subarray(from).toString('utf8');
  while (!(FLOOR ? /floor: SIP/ : /API port/).test(started())) {
    if (server.exitCode !== null) throw new Error(started());
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function stopServer(): Promise<void> {
  if (!server || server.exitCode !== null) return;
  const exited = new Promise((r) => server!.once('exit', r));
  server.kill('SIGTERM');
  await exited;
}

try {
  await startServer();
  const phones = SAME_PHONES ? N : N * ROUNDS;
  // bench/storm-floor.mjs makes the same passwords from a phone's index; a device's user there is its MAC.
  const passwords = Array.from({ length: phones }, (_, i) => `storm-Pw-${md5(String(i)).slice(0, 12)}`);
  let creds: Map<string, { user: string; password: string }>;
  if (FLOOR) creds = new Map(passwords.map((password, i) => [mac(i), { user: mac(i), password }]));
  else {
    const token = await cliToken();
    await api('/api/extensions/import?allow_weak_passwords=true', token, ['extension,secret,digest_algorithms', ...passwords.map((p, i) => `${number(i)},${p},MD5`)].join('\n'));
    const devices = await api('/api/provisioning/devices/import', token, ['mac,vendor,model,lines', ...passwords.map((_, i) => `${mac(i)},yealink,T46S,${number(i)}`)].join('\n'));
    creds = new Map((devices.credentials as { mac: string; user: string; password: string }[]).map((c) => [c.mac, { user: c.user, password: c.password }]));
  }
  await new Promise<void>((r) => sip.bind(0, '127.0.0.1', () => r()));
  const settle = () => new Promise((r) => setTimeout(r, Number(process.env['SETTLE'] ?? 0) * 1000));
  await settle();
  for (let round = 1; round <= ROUNDS; round++) {
    if (round > 1) {
      latencies.length = 0;
      bySecond.length = 0;
      failures.clear();
      shed = 0;
      if (RESTART) {
        await stopServer();
        await startServer();
        await settle();
      } else await new Promise((r) => setTimeout(r, 5000));
    }
    // FIRST_N (with ROUNDS=2): the first round's size, at the same rate: how much traffic warms a server.
    const n = round === 1 && ROUNDS > 1 && process.env['FIRST_N'] ? Number(process.env['FIRST_N']) : N;
    const spread = (SPREAD * n) / N;
    console.log(`${n} phones start within ${spread} s …${ROUNDS > 1 ? ` (round ${round} of ${ROUNDS})` : ''}`);
    const t0 = Date.now();
    const cpu0 = serverCpu();
    const client0 = process.cpuUsage();
    stormStart = performance.now();
    // The event loop's share of a core, second by second: how much more a cold server spends.
    const bySecondCpu: string[] = [];
    let before = cpu0;
    let clientBefore = client0;
    // Time each event loop was ready to run but waited for a core (Linux schedstat, ns).
    const runQueueWait = (pid: number) => Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ')[1]);
    let waitBefore = runQueueWait(server!.pid!);
    let clientWaitBefore = runQueueWait(process.pid);
    const sampler = setInterval(() => {
      const now = serverCpu();
      const clientNow = process.cpuUsage();
      if (now && before) {
        const main = (now.get('main') ?? 0) - (before.get('main') ?? 0);
        let all = 0;
        for (const [k, v] of now) all += v - (before.get(k) ?? 0);
        const client = Math.round((clientNow.user + clientNow.system - clientBefore.user - clientBefore.system) / 1e4);
        const wait = runQueueWait(server!.pid!);
        const clientWait = runQueueWait(process.pid);
        bySecondCpu.push(`${bySecondCpu.length}s ${main}/${all}/${client} w${Math.round((wait - waitBefore) / 1e7)}/${Math.round((clientWait - clientWaitBefore) / 1e7)}`);
        waitBefore = wait;
        clientWaitBefore = clientWait;
      }
      before = now;
      clientBefore = clientNow;
    }, 1000);
    let registered = 0;
    // Phones are started by one ticking timer, not a timer each: 10,000 timeouts of distinct
    // lengths cost this client's event loop half its time (node:internal/timers insert).
    const due: (() => void)[] = [];
    let started = 0;
    const starter = setInterval(() => {
      const now = performance.now() - stormStart;
      while (started < n && (started * spread * 1000) / n <= now) due[started++]!();
      if (started === n) clearInterval(starter);
    }, 2);
    await Promise.all(
      Array.from({ length: n }, async (_, j) => {
        const i = SAME_PHONES ? j : (round - 1) * N + j;
        await new Promise<void>((r) => (due[j] = r));
        const cred = creds.get(mac(i))!;
        const http = new PhoneHttp(HTTP_PORT, UA);
        try {
          if (!(await fetchFile(http, `/provision/${mac(i)}.boot`, cred))) return;
          if (!(await fetchFile(http, '/provision/y000000000066.cfg', cred))) return;
          if (!(await fetchFile(http, `/provision/${mac(i)}.cfg`, cred))) return;
        } finally {
          http.close();
        }
        if (await register(i, passwords[i]!, round)) registered++;
      }).map((p) => p.catch((err: Error) => fail(`error ${err.message.slice(0, 40)}`))),
    );
    clearInterval(sampler);
    const seconds = (Date.now() - t0) / 1000;
    const cpu = cpuSpent(cpu0, serverCpu());
    const client = process.cpuUsage(client0);
    latencies.sort((a, b) => a - b);
    const pct = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!.toFixed(1);
    console.log(`boot storm: ${n} phones, started within ${spread} s`);
    console.log(`  all done in ${seconds.toFixed(1)} s; registered ${registered}; failures ${[...failures].map(([k, v]) => `${k}: ${v}`).join(', ') || 0}; 503 (shed, retried) ${shed}`);
    console.log(`  HTTP requests ${latencies.length}: p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms, max ${latencies[latencies.length - 1]!.toFixed(1)} ms`);
    const p99 = (l: number[]) => (l.sort((a, b) => a - b), l[Math.min(l.length - 1, Math.floor(0.99 * l.length))]!);
    console.log(`  HTTP p99 by second sent (ms): ${bySecond.map((l, s) => `${s}s ${l ? Math.round(p99(l)) : '-'}`).join(', ')}`);
    if (cpu) console.log(`  CPU seconds: server ${cpu}; this client ${((client.user + client.system) / 1e6).toFixed(2)}`);
    if (cpu) console.log(`  CPU by second, % of a core (event loop/whole server/this client): ${bySecondCpu.join(', ')}`);
  }
} finally {
  sip.close();
  await stopServer();
  if (!process.env['KEEP_TMP']) rmSync(dir, { recursive: true, force: true });
}
