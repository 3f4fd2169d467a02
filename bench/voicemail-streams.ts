// Voicemail media figures (not a test): `node --import tsx bench/voicemail-streams.ts`.
// A real pbx process (bin/pbx.js serve, built dist/) takes N simultaneous calls to
// mailboxes; each caller sends a 20 ms PCMU tone stream (the pbx records it) while the
// pbx plays the greeting and then its own packets. For each N, over WINDOW seconds once
// every call is up, it prints: packets the pbx sent and lost on the way (sequence gaps at
// the callers), the spacing of the pbx's packets as the callers received them (p50, p99 of
// |gap − 20 ms|), and the pbx process's CPU per stream (from /proc). The callers share
// this process, on the machine's other core: spacing figures include its own jitter.
// Settings: LEVELS (default "100,250,500,750"), WINDOW (default 8), PBX_SIP_PORT, PBX_API_PORT,
// PIN=1 (pbx on core 0, callers on core 1, with taskset).
import { createSocket, type Socket } from 'node:dgram';
import { execFileSync } from 'node:child_process';
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

const dir = tempDir('pbx-bench-vm-');
const file = writeConfig(dir, { port: API_PORT, sipPort: SIP_PORT, logLevel: 'warn' });
writeFileSync(
  file,
  `${readFileSync(file, 'utf8')}voicemail:\n  max_message_seconds: 600\n  silence_seconds: 60\n  max_messages: 10000\nmedia:\n  rtp_port_min: 30000\n  rtp_port_max: 39999\n`,
);
const token = await createToken(file);
const server = await RunningServer.start(file, API_PORT);
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

const ua = await new TestUa({ host: '127.0.0.1', port: SIP_PORT }, caller.number, caller.password).open();
console.log(`pbx voicemail media, ${WINDOW} s windows; pbx pid ${server.child.pid}`);
console.log('streams  answered  sent/s   lost  spacing p50  p99 (ms)  pbx CPU %  CPU ms/stream/s');
for (const n of LEVELS) {
  const legs: { leg: Leg; call: OutgoingCall }[] = [];
  const sender = setInterval(() => {
    for (const l of legs) l.leg.send(tone);
  }, 20);
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
  const cpu0 = cpuSeconds(server.child.pid!);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, WINDOW * 1000));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(server.child.pid!) - cpu0;
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
  console.log(`         (pbx media clock: ticks late p99 ${p99('pbx_media_clock_late_p99_ms')} ms, sending a tick p99 ${p99('pbx_media_clock_busy_p99_ms')} ms; so far ${late})`);
  clearInterval(sender);
  for (const { leg, call } of legs) {
    await ua.bye(call).catch(() => {});
    leg.socket.close();
  }
  await new Promise((r) => setTimeout(r, 2000));
}
ua.close();
await server.stop();
void join;
