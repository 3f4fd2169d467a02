// A simulated fleet against one pbx: N extensions created by one CSV import, N phones
// registered (digest, MD5) from a pool of UDP sockets, and what that costs: the
// import's time, registrations per second, the server's resident memory before, with
// every binding live, after the transactions are gone and once V8 has given back the heap
// it no longer uses, and after a restart that reloads the same bindings (and how long that
// reload takes).
//
//   npm run build && node --import tsx bench/fleet.ts            # N=100000
//   N=20000 node --import tsx bench/fleet.ts
//   DEVICES=1 …                                                # and a device (phone) per extension, one CSV import
//   SMAPS=dir …                                                # the server's /proc/<pid>/smaps, live and after the restart
//
// Everything runs on 127.0.0.1 (pbx SIP on UDP 15160, API on 18180) and is stopped at the end.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const N = Number(process.env['N'] ?? 100_000);
const SIP_PORT = 15160;
const API_PORT = 18180;
const SOCKETS = 200;
const IN_FLIGHT = 2000;
const DEVICES = process.env['DEVICES'] === '1';
const ROOT = resolve(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'pbx-fleet-'));
const config = join(dir, 'config.yml');
writeFileSync(
  config,
  `server:\n  external_ip: 127.0.0.1\n  sip_host: 127.0.0.1\n  sip_port: ${SIP_PORT}\napi:\n  host: 127.0.0.1\n  port: ${API_PORT}\ndatabase:\n  path: ${join(dir, 'pbx.db')}\nlogging:\n  level: warn\n` +
    // One source address registers every phone: the flood guard would (rightly) ban it.
    `sip:\n  guard:\n    max_requests: 1000000\n    allow: [127.0.0.1]\n  max_expires: 7200\nvoicemail:\n  enabled: false\n`,
);

let server: ChildProcess | null = null;

async function start(): Promise<{ ms: number }> {
  const t0 = Date.now();
  server = spawn(process.execPath, ['--max-semi-space-size=64', '--v8-pool-size=2', '--test-udp-no-try-send', ...(process.env['PBX_NODE_ARGS']?.split(' ').filter(Boolean) ?? []), ...(process.env['SNAPSHOTS'] ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${process.env['SNAPSHOTS']}`] : []), join(ROOT, 'bin/pbx.js'), 'serve', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  server.stdout!.on('data', (d) => (log += d));
  server.stderr!.on('data', (d) => (log += d));
  while (!/API port/.test(log)) {
    if (server.exitCode !== null) throw new Error(`pbx did not start:\n${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { ms: Date.now() - t0 };
}

async function stop(): Promise<void> {
  if (!server || server.exitCode !== null) return;
  const exited = new Promise((r) => server!.once('exit', r));
  server.kill('SIGTERM');
  await exited;
}

/** The server's memory figures in /proc/<pid>/status, in MB. */
const statusMb = (...keys: string[]) => {
  const status = readFileSync(`/proc/${server!.pid}/status`, 'utf8');
  return keys.map((key) => Math.round(Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0) / 1024));
};
const rssMb = () => statusMb('VmRSS')[0]!;
/** RSS split as the kernel counts it: anonymous memory (heap, malloc) and file pages (code, mapped files). */
const rssSplit = () => {
  const [anon, file] = statusMb('RssAnon', 'RssFile');
  return `anon ${anon} MB, file ${file} MB`;
};

async function cli(args: string[]): Promise<string> {
  return new Promise((ok, fail) => {
    const c = spawn(process.execPath, [join(ROOT, 'bin/pbx.js'), ...args, '--config', config]);
    let out = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', () => {});
    c.on('close', (code) => (code === 0 ? ok(out.trim().split('\n').pop()!) : fail(new Error(`pbx ${args.join(' ')} failed`))));
  });
}

const md5 = (s: string) => createHash('md5').update(s).digest('hex');
const number = (i: number) => String(100000 + i);
const password = (i: number) => `fleet-Pw-${md5(String(i)).slice(0, 12)}`;

/** Registers phones i in [0, N) from a pool of sockets, IN_FLIGHT at a time; resolves with the time it took. */
async function registerAll(): Promise<number> {
  const sockets: Socket[] = [];
  const pending = new Map<string, (msg: string) => void>();
  for (let s = 0; s < SOCKETS; s++) {
    const sock = createSocket('udp4');
    sock.on('message', (m) => {
      const text = m.toString('latin1');
      const callId = /^Call-ID:\s*(\S+)/im.exec(text)?.[1];
      if (callId && / [1-9]\d\d /.test(text.slice(0, 16))) pending.get(callId)?.(text);
    });
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    sockets.push(sock);
  }
  const send = (sock: Socket, text: string, callId: string) =>
    new Promise<string>((ok, fail) => {
      const timer = setTimeout(() => {
        pending.delete(callId);
        fail(new Error(`no answer for ${callId}`));
      }, 30_000);
      pending.set(callId, (msg) => {
        clearTimeout(timer);
        pending.delete(callId);
        ok(msg);
      });
      sock.send(text, SIP_PORT, '127.0.0.1');
    });
  const register = async (i: number) => {
    const sock = sockets[i % SOCKETS]!;
    const port = sock.address().port;
    const user = number(i);
    const callId = `fleet-${i}-${Date.now()}`;
    const base = (cseq: number, auth = '') =>
      `REGISTER sip:127.0.0.1:${SIP_PORT} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bK${i}x${cseq};rport\r\nMax-Forwards: 70\r\n` +
      `From: <sip:${user}@127.0.0.1>;tag=f${i}\r\nTo: <sip:${user}@127.0.0.1>\r\nCall-ID: ${callId}\r\nCSeq: ${cseq} REGISTER\r\n` +
      `Contact: <sip:${user}@127.0.0.1:${port}>\r\nExpires: 3600\r\nUser-Agent: Yealink SIP-T46S 66.86.0.15\r\n${auth}Content-Length: 0\r\n\r\n`;
    const challenge = await send(sock, base(1), callId);
    const nonce = /nonce="([^"]+)"/.exec(challenge)?.[1];
    const realm = /realm="([^"]+)"/.exec(challenge)?.[1];
    if (!nonce || !realm) throw new Error(`no challenge: ${challenge.split('\r\n')[0]}`);
    const uri = `sip:127.0.0.1:${SIP_PORT}`;
    const cnonce = md5(`${i}`).slice(0, 8);
    const response = md5(`${md5(`${user}:${realm}:${password(i)}`)}:${nonce}:00000001:${cnonce}:auth:${md5(`REGISTER:${uri}`)}`);
    const auth = `Authorization: Digest username="${user}", realm="${realm}", nonce="${nonce}", uri="${uri}", response="${response}", algorithm=MD5, qop=auth, nc=00000001, cnonce="${cnonce}"\r\n`;
    const ok = await send(sock, base(2, auth), callId);
    if (!ok.startsWith('SIP/2.0 200')) throw new Error(`REGISTER ${user}: ${ok.split('\r\n')[0]}`);
  };
  const t0 = Date.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < N) await register(next++);
    }),
  );
  const ms = Date.now() - t0;
  for (const s of sockets) s.close();
  return ms;
}

let metricsToken: string | undefined;

/** Live bindings and the JavaScript heap in use (MB), from /metrics. */
async function registrations(): Promise<{ bindings: number; heapMb: number; heapTotalMb: number; newSpaceMb: number; spaces: string }> {
  // In the database, so it outlives the restart.
  const token = (metricsToken ??= await cli(['token', 'create', '--name', 'fleet-metrics']));
  const text = await (await fetch(`http://127.0.0.1:${API_PORT}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
  return {
    bindings: Number(/^pbx_sip_registrations (\d+)/m.exec(text)?.[1]),
    heapMb: Math.round(Number(/^pbx_process_nodejs_heap_size_used_bytes (\d+)/m.exec(text)?.[1]) / 1048576),
    // What V8 holds from the system (RSS beyond it is SQLite, malloc and code), and of it the young generation.
    heapTotalMb: Math.round(Number(/^pbx_process_nodejs_heap_size_total_bytes (\d+)/m.exec(text)?.[1]) / 1048576),
    newSpaceMb: Math.round(Number(/^pbx_process_nodejs_heap_space_size_total_bytes\{space="new"\} (\d+)/m.exec(text)?.[1]) / 1048576),
    // Where the held heap is: used/held MB of the old generation and of large objects.
    spaces: ['old', 'large_object']
      .map((space) => {
        const mb = (kind: string) => Math.round(Number(new RegExp(`^pbx_process_nodejs_heap_space_size_${kind}_bytes\\{space="${space}"\\} (\\d+)`, 'm').exec(text)?.[1]) / 1048576);
        return `${space} ${mb('used')}/${mb('total')}`;
      })
      .join(', '),
  };
}

/**
 * Waits (from 120 s after `since`, every 10 s, up to 300 s) until V8 holds at most a quarter
 * more heap than it uses, that is until its memory reducer has run; the RSS then.
 */
async function whenReduced(since: number): Promise<{ rss: number; split: string; s: number }> {
  for (;;) {
    const heap = await registrations();
    const s = Math.round((Date.now() - since) / 1000);
    if (heap.heapTotalMb <= heap.heapMb * 1.25 || s >= 300) return { rss: rssMb(), split: rssSplit(), s };
    await new Promise((r) => setTimeout(r, 10_000));
  }
}

try {
  const csv = ['extension,name,secret,digest_algorithms', ...Array.from({ length: N }, (_, i) => `${number(i)},Phone ${i},${password(i)},MD5`)].join('\n');
  writeFileSync(join(dir, 'extensions.csv'), csv);
  await start();
  const idle = rssMb();
  const token = await cli(['token', 'create', '--name', 'fleet']);
  const t0 = Date.now();
  const res = await fetch(`http://127.0.0.1:${API_PORT}/api/extensions/import?allow_weak_passwords=true`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'text/csv' }, body: csv });
  if (res.status !== 200) throw new Error(`import: ${res.status} ${(await res.text()).slice(0, 300)}`);
  const importMs = Date.now() - t0;
  let deviceImportMs = 0;
  if (DEVICES) {
    const devices = ['mac,vendor,model,lines', ...Array.from({ length: N }, (_, i) => `0015${i.toString(16).padStart(8, '0')},yealink,T46S,${number(i)}`)].join('\n');
    const d0 = Date.now();
    const r = await fetch(`http://127.0.0.1:${API_PORT}/api/provisioning/devices/import`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'text/csv' }, body: devices });
    if (r.status !== 200) throw new Error(`device import: ${r.status} ${(await r.text()).slice(0, 300)}`);
    deviceImportMs = Date.now() - d0;
  }
  const withExtensions = rssMb();
  const regMs = await registerAll();
  const live = rssMb();
  const burstEnd = Date.now();
  // Every transaction (Timer J, 32 s) is gone after 40 s. V8's memory reducer gives the heap
  // it no longer uses back to the system some time later (here 150–180 s after the burst,
  // ~100 s after a restart): RSS at 120 s, and once V8 holds little more than it uses.
  await new Promise((r) => setTimeout(r, 40_000));
  const settled = rssMb();
  await new Promise((r) => setTimeout(r, 80_000));
  const settledLong = rssMb();
  const reduced = await whenReduced(burstEnd);
  if (process.env['SMAPS']) writeFileSync(`${process.env['SMAPS']}/live.smaps`, readFileSync(`/proc/${server!.pid}/smaps`));
  // SNAPSHOTS=dir: a heap snapshot with every binding live, and one after the restart (compare them).
  const snapshot = async () => {
    if (!process.env['SNAPSHOTS']) return;
    server!.kill('SIGUSR2');
    await new Promise((r) => setTimeout(r, 20_000));
  };
  await snapshot();
  const count = await registrations();
  await stop();
  const restart = await start();
  const restarted = Date.now();
  const reloaded = rssMb();
  // V8's memory reducer returns the reload's garbage about 100 s after the start (--trace-gc: "Mark-Compact (reduce)").
  await new Promise((r) => setTimeout(r, 120_000));
  const reloadedSettled = rssMb();
  const reloadedReduced = await whenReduced(restarted);
  if (process.env['SMAPS']) writeFileSync(`${process.env['SMAPS']}/reloaded.smaps`, readFileSync(`/proc/${server!.pid}/smaps`));
  await snapshot();
  const countAfter = await registrations();
  console.log(`fleet of ${N} phones on one pbx (SQLite)`);
  console.log(`  import of ${N} extensions (one CSV POST):     ${(importMs / 1000).toFixed(1)} s`);
  if (DEVICES) console.log(`  import of ${N} devices (one CSV POST):        ${(deviceImportMs / 1000).toFixed(1)} s`);
  console.log(`  registrations (digest, ${IN_FLIGHT} in flight):      ${Math.round(N / (regMs / 1000))}/s (${(regMs / 1000).toFixed(1)} s)`);
  console.log(`  RSS idle / with extensions${DEVICES ? ' and devices' : ''}:                ${idle} MB / ${withExtensions} MB`);
  console.log(`  RSS with ${count.bindings} live bindings:           ${live} MB, ${settled} MB 40 s later, ${settledLong} MB 120 s later, ${reduced.rss} MB ${reduced.s} s later (${reduced.split}; heap in use ${count.heapMb} MB, held ${count.heapTotalMb} MB, young generation ${count.newSpaceMb} MB; ${count.spaces})`);
  console.log(`  restart until listening (reload included):  ${(restart.ms / 1000).toFixed(1)} s; ${countAfter.bindings} bindings; RSS ${reloaded} MB, ${reloadedSettled} MB 120 s later, ${reloadedReduced.rss} MB ${reloadedReduced.s} s later (${reloadedReduced.split}; heap in use ${countAfter.heapMb} MB, held ${countAfter.heapTotalMb} MB, young generation ${countAfter.newSpaceMb} MB; ${countAfter.spaces})`);
} finally {
  await stop();
  if (!process.env['KEEP_TMP']) rmSync(dir, { recursive: true, force: true });
}
