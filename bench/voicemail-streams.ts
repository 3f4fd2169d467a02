// Voicemail media figures (not a test): `node --import tsx bench/voicemail-streams.ts`.
// A real pbx process (bin/pbx.js serve, built dist/) takes N simultaneous calls to
// mailboxes; each caller sends a 20 ms PCMU tone stream (the pbx records it) while the
// pbx plays the greeting and then its own packets. For each N, over WINDOW seconds once
// every call is up, it prints: packets the pbx sent and lost on the way (sequence gaps at
// the callers), the spacing of the pbx's packets as the callers received them (p50, p99 of
// |gap − 20 ms|), and the pbx process's CPU per stream (from /proc). The callers share
// this process, on the machine's other core: spacing figures include its own jitter.
// Like real phones, whose calls start at random moments, the callers' 20 ms cycles are
// spread over the period (PHASES groups, 1 ms apart), not sent in one burst.
// With CAPTURE=1 the pbx's packets are also captured on the loopback (tcpdump) and their
// spacing measured from the kernel's timestamps: what the wire saw, free of the callers'
// own scheduling.
// Settings: LEVELS (default "100,250,500,750"), WINDOW (default 8), PBX_SIP_PORT, PBX_API_PORT,
// PHASES (default 20; 1 = every caller sends in the same millisecond), CAPTURE=1,
// GEN=sipp (the callers are SIPp, bench/sipp/uac-voicemail-rtp.xml, streaming a tone from
// its own RTP threads: a native caller that adds no jitter of its own; spacing is then
// measured on the wire only, so CAPTURE is implied),
// PIN=1 (pbx on core 0, callers and tcpdump on core 1, with taskset).
import { createSocket, type Socket } from 'node:dgram';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { createToken, RunningServer, tempDir, writeConfig } from '../test/helpers/server.ts';
import { TestUa, type OutgoingCall } from '../test/helpers/sip-client.ts';
import { linearToUlaw } from '../test/helpers/audio.ts';

const LEVELS = (process.env['LEVELS'] ?? '100,250,500,750').split(',').map(Number);
const WINDOW = Number(process.env['WINDOW'] ?? 8);
const SIP_PORT = Number(process.env['PBX_SIP_PORT'] ?? 15070);
const API_PORT = Number(process.env['PBX_API_PORT'] ?? 18090);
const MAILBOXES = 20;
const PHASES = Number(process.env['PHASES'] ?? 20);
const SIPP = process.env['GEN'] === 'sipp';
const CAPTURE = process.env['CAPTURE'] === '1' || SIPP;

const dir = tempDir('pbx-bench-vm-');
const file = writeConfig(dir, { port: API_PORT, sipPort: SIP_PORT, logLevel: 'warn' });
writeFileSync(
  file,
  `${readFileSync(file, 'utf8')}voicemail:\n  max_message_seconds: 600\n  silence_seconds: 60\n  max_messages: 10000\nmedia:\n  rtp_port_min: 30000\n  rtp_port_max: 39999\n`,
);
const token = await createToken(file);
// PBX_NODE_OPTIONS: flags for the pbx process only (for example --cpu-prof --cpu-prof-dir=/tmp/prof).
const server = await RunningServer.start(file, API_PORT, process.env['PBX_NODE_OPTIONS'] ? { NODE_OPTIONS: process.env['PBX_NODE_OPTIONS'] } : {});
if (process.env['PIN'] === '1') {
  // The pbx on core 0 (all its threads), the callers on core 1: neither takes the other's time.
  execFileSync('taskset', ['-a', '-p', '-c', '0', String(server.child.pid)]);
  execFileSync('taskset', ['-a', '-p', '-c', '1', String(process.pid)]);
}
const created = await server.api('POST', '/api/extensions', token, { number: '5999', digest_algorithms: ['MD5'] });
const caller = { number: '5999', password: created.json.password as string };
for (let i = 0; i < MAILBOXES; i++) await server.api('POST', '/api/extensions', token, { number: String(6000 + i), digest_algorithms: ['MD5'] });

/** One caller's media: a tone out every tick, the pbx's packets in (arrival times, sequence). */
class Leg {
  socket!: Socket;
  port = 0;
  remote: { host: string; port: number } | null = null;
  seq = 0;
  ts = 0;
  lastArrival = 0;
  lastSeq = -1;
  received = 0;
  lost = 0;
  gaps: number[] = [];
  measuring = false;
  async open(): Promise<void> {
    this.socket = createSocket('udp4');
    this.socket.on('message', (m) => {
      const now = performance.now();
      const seq = m.readUInt16BE(2);
      if (this.measuring) {
        if (this.lastSeq >= 0) {
          const d = (seq - this.lastSeq + 65536) & 0xffff;
          if (d > 1 && d < 1000) this.lost += d - 1;
          if (d === 1) this.gaps.push(Math.abs(now - this.lastArrival - 20));
        }
        this.received++;
      }
      this.lastSeq = seq;
      this.lastArrival = now;
    });
    await new Promise<void>((ok) => this.socket.bind(0, '127.0.0.1', () => ok()));
    this.port = this.socket.address().port;
  }
  sdp(): string {
    return `v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio ${this.port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\n`;
  }
  send(payload: Buffer): void {
    if (!this.remote) return;
    const h = Buffer.alloc(12);
    h[0] = 0x80;
    h[1] = 0;
    h.writeUInt16BE(this.seq++ & 0xffff, 2);
    h.writeUInt32BE((this.ts += 160) >>> 0, 4);
    h.writeUInt32BE(0x1234, 8);
    this.socket.send(Buffer.concat([h, payload]), this.remote.port, this.remote.host);
  }
}

const tone = Buffer.alloc(160);
for (let i = 0; i < 160; i++) tone[i] = linearToUlaw(Math.round(Math.sin((2 * Math.PI * 400 * i) / 8000) * 6000));

function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

const pct = (xs: number[], p: number) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

if (SIPP) {
  await sippLevels();
  await server.stop();
  process.exit(0);
}

const ua = await new TestUa({ host: '127.0.0.1', port: SIP_PORT }, caller.number, caller.password).open();
console.log(`pbx voicemail media, ${WINDOW} s windows; pbx pid ${server.child.pid}`);
console.log('streams  answered  sent/s   lost  spacing p50  p99 (ms)  pbx CPU %  CPU ms/stream/s');
for (const n of LEVELS) {
  const legs: { leg: Leg; call: OutgoingCall }[] = [];
  // Caller i sends in phase i % PHASES: PHASES timers, 1 ms apart.
  const senders: NodeJS.Timeout[] = [];
  for (let ph = 0; ph < PHASES; ph++) {
    const start = setTimeout(() => {
      senders.push(
        setInterval(() => {
          for (let i = ph; i < legs.length; i += PHASES) legs[i]!.leg.send(tone);
        }, 20),
      );
    }, ph);
    senders.push(start);
  }
  for (let i = 0; i < n; i++) {
    const leg = new Leg();
    await leg.open();
    const call = await ua.invite(String(6000 + (i % MAILBOXES)), leg.sdp());
    if (call.status !== 200) {
      if (i === 0) console.log(`call status ${call.status} ${call.reply.reason}`);
      leg.socket.close();
      continue;
    }
    leg.remote = { host: /c=IN IP4 (\S+)/.exec(call.body)![1]!, port: Number(/m=audio (\d+)/.exec(call.body)![1]) };
    legs.push({ leg, call });
  }
  await new Promise((r) => setTimeout(r, 1500));
  for (const { leg } of legs) leg.measuring = true;
  const capture = CAPTURE ? startCapture(join(dir, `pbx-${n}.pcap`)) : null;
  const cpu0 = cpuSeconds(server.child.pid!);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, WINDOW * 1000));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(server.child.pid!) - cpu0;
  const wire = capture ? await capture.stop() : null;
  for (const { leg } of legs) leg.measuring = false;
  const received = legs.reduce((a, l) => a + l.leg.received, 0);
  const lost = legs.reduce((a, l) => a + l.leg.lost, 0);
  const gaps = legs.flatMap((l) => l.leg.gaps);
  console.log(
    `${String(n).padStart(7)}  ${String(legs.length).padStart(8)}  ${(received / seconds).toFixed(0).padStart(6)}  ${String(lost).padStart(5)}  ${pct(gaps, 50).toFixed(2).padStart(11)}  ${pct(gaps, 99).toFixed(2).padStart(5)}  ${((cpu / seconds) * 100).toFixed(0).padStart(13)}  ${((cpu * 1000) / seconds / Math.max(1, legs.length)).toFixed(3).padStart(15)}`,
  );
  const metrics = await (await fetch(`${server.base}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
  const late = [...metrics.matchAll(/^pbx_media_clock_late_ticks_total\{kind="(\w+)"\} (\d+)/gm)].map((m) => `${m[1]} ${m[2]}`).join(', ');
  const p99 = (name: string) => new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1];
  if (wire) console.log(`         (on the wire: ${wire.packets} pbx packets, spacing abs(gap − 20 ms) p50 ${wire.p50.toFixed(2)} ms, p99 ${wire.p99.toFixed(2)} ms, p99.9 ${wire.p999.toFixed(2)} ms, within 2 ms ${wire.within2.toFixed(2)} %)`);
  console.log(`         (pbx media clock: ticks late p99 ${p99('pbx_media_clock_late_p99_ms')} ms, sending a tick p99 ${p99('pbx_media_clock_busy_p99_ms')} ms; so far ${late})`);
  for (const t of senders) clearInterval(t);
  for (const { leg, call } of legs) {
    await ua.bye(call).catch(() => {});
    leg.socket.close();
  }
  await new Promise((r) => setTimeout(r, 2000));
}
ua.close();
await server.stop();

/** Each level with SIPp as the callers: all calls up, then WINDOW seconds measured on the wire and at the pbx. */
async function sippLevels(): Promise<void> {
  // A u-law WAV of a 400 Hz tone: SIPp sends its data as it is.
  const seconds = 2;
  const data = Buffer.alloc(8000 * seconds);
  for (let i = 0; i < data.length; i++) data[i] = linearToUlaw(Math.round(Math.sin((2 * Math.PI * 400 * i) / 8000) * 6000));
  const header = Buffer.alloc(44);
  header.write('RIFF', 0);
  header.writeUInt32LE(36 + data.length, 4);
  header.write('WAVEfmt ', 8);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(7, 20); // μ-law
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(8000, 24);
  header.writeUInt32LE(8000, 28);
  header.writeUInt16LE(1, 32);
  header.writeUInt16LE(8, 34);
  header.write('data', 36);
  header.writeUInt32LE(data.length, 40);
  writeFileSync(join(dir, 'tone.wav'), Buffer.concat([header, data]));
  const csv = ['SEQUENTIAL', ...Array.from({ length: MAILBOXES }, (_, i) => `${caller.number};[authentication username=${caller.number} password=${caller.password}];${6000 + i}`)].join('\n');
  writeFileSync(join(dir, 'callers.csv'), `${csv}\n`);
  const scenario = join(import.meta.dirname, 'sipp', 'uac-voicemail-rtp.xml');
  const metric = async (name: string) => {
    const text = await (await fetch(`${server.base}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
    return [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))].map((m) => Number(m[1]));
  };
  console.log(`pbx voicemail media with SIPp callers, ${WINDOW} s windows; pbx pid ${server.child.pid}`);
  console.log('streams  up   pbx packets/s  spacing on the wire p50 / p99 / p99.9 (ms)  within 2 ms  clock late p99  pbx CPU %  CPU ms/stream/s');
  for (const n of LEVELS) {
    const rate = 100;
    const holdMs = Math.ceil((n / rate + 6 + WINDOW) * 1000);
    const sipp = spawn(
      'sipp',
      ['127.0.0.1:' + SIP_PORT, '-sf', scenario, '-inf', join(dir, 'callers.csv'), '-i', '127.0.0.1', '-mi', '127.0.0.1', '-p', '15091', '-m', String(n), '-l', String(n), '-r', String(rate), '-d', String(holdMs), '-mp', '20000', '-nostdin', '-trace_err', '-error_file', join(dir, `sipp-${n}.err`)],
      { cwd: dir, stdio: 'ignore' },
    );
    if (process.env['PIN'] === '1') execFileSync('taskset', ['-a', '-p', '-c', '1', String(sipp.pid)]);
    const exited = new Promise((r) => sipp.once('exit', r));
    const until = Date.now() + holdMs - (WINDOW + 2) * 1000;
    let up = 0;
    while (Date.now() < until && (up = (await metric('pbx_service_calls_active'))[0] ?? 0) < n) await new Promise((r) => setTimeout(r, 200));
    await new Promise((r) => setTimeout(r, 1500));
    const capture = startCapture(join(dir, `pbx-${n}.pcap`));
    const cpu0 = cpuSeconds(server.child.pid!);
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, WINDOW * 1000));
    const secs = (performance.now() - t0) / 1000;
    const cpu = cpuSeconds(server.child.pid!) - cpu0;
    const wire = await capture.stop();
    const late = (await metric('pbx_media_clock_late_p99_ms'))[0];
    console.log(
      `${String(n).padStart(7)}  ${String(up).padStart(4)}  ${(wire.packets / secs).toFixed(0).padStart(13)}  ${`${wire.p50.toFixed(2)} / ${wire.p99.toFixed(2)} / ${wire.p999.toFixed(2)}`.padStart(43)}  ${`${wire.within2.toFixed(2)} %`.padStart(11)}  ${`${late} ms`.padStart(14)}  ${((cpu / secs) * 100).toFixed(0).padStart(9)}  ${((cpu * 1000) / secs / Math.max(1, up)).toFixed(3).padStart(15)}`,
    );
    await exited;
    await new Promise((r) => setTimeout(r, 2000));
  }
  const [sent, received, lost, ignored] = await metric('pbx_media_packets_total');
  console.log(`(pbx RTP totals over the run: sent ${sent}, received ${received}, lost ${lost}, ignored ${ignored})`);
}

/** tcpdump on the loopback for the pbx's RTP (source ports of its media range); stop() measures it. */
function startCapture(file: string) {
  const child = spawn('tcpdump', ['-i', 'lo', '-n', '-s', '64', '-B', '65536', '-w', file, 'udp and src portrange 30000-39999'], { stdio: 'ignore' });
  if (process.env['PIN'] === '1') execFileSync('taskset', ['-a', '-p', '-c', '1', String(child.pid)]);
  return {
    async stop() {
      child.kill('SIGINT');
      await new Promise((r) => child.once('exit', r));
      return wireSpacing(readFileSync(file));
    },
  };
}

/** Per source port, the gap between packets with consecutive RTP sequence numbers, from a pcap (Ethernet framing on lo). */
function wireSpacing(pcap: Buffer) {
  const last = new Map<number, { t: number; seq: number }>();
  const gaps: number[] = [];
  let packets = 0;
  for (let at = 24; at + 16 <= pcap.length; ) {
    const t = pcap.readUInt32LE(at) * 1000 + pcap.readUInt32LE(at + 4) / 1000;
    const len = pcap.readUInt32LE(at + 8);
    const frame = pcap.subarray(at + 16, at + 16 + len);
    at += 16 + len;
    if (frame.length < 14 + 20 + 8 + 4 || frame.readUInt16BE(12) !== 0x0800) continue;
    const ip = 14;
    const udp = ip + (frame[ip]! & 0x0f) * 4;
    const rtp = udp + 8;
    if (frame.length < rtp + 4 || (frame[rtp]! & 0xc0) !== 0x80 || (frame[rtp + 1]! & 0x7f) >= 72) continue; // RTP, not RTCP
    packets++;
    const port = frame.readUInt16BE(udp);
    const seq = frame.readUInt16BE(rtp + 2);
    const prev = last.get(port);
    if (prev && ((seq - prev.seq + 65536) & 0xffff) === 1) gaps.push(Math.abs(t - prev.t - 20));
    last.set(port, { t, seq });
  }
  return { packets, p50: pct(gaps, 50), p99: pct(gaps, 99), p999: pct(gaps, 99.9), within2: gaps.length ? (100 * gaps.filter((g) => g <= 2).length) / gaps.length : NaN };
}
