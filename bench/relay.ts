// Anchored-call media figures (not a test): `npm run build && node --import tsx bench/relay.ts`.
// The same traffic through the pbx's built-in relay (its media threads, in a process of
// their own: bench/relay.ts host) and through rtpengine (Debian's rtpengine-daemon,
// userspace forwarding, `--table=-1`), in one run on this machine, and the ratio.
// For each level of N simultaneous G.711 calls (two parties each sending 20 ms packets
// of 172 bytes, 50 per second each way) over WINDOW seconds it prints: packets relayed
// per second, loss, the delay through the relay (p50/p99, measured from a timestamp in
// each packet, less the same figure sent party to party directly), the interarrival
// jitter (RFC 3550 §6.4.1, mean over the streams), and the relay process's CPU (from
// /proc), hence packets per CPU-second: what the relay could carry on one whole core.
// The parties run in this process: at high levels they, not the relay, are the limit
// (their own delay shows in the direct figure).
// Settings: LEVELS (default "50,100,200,400"), WINDOW (default 5), ENGINES (default
// "builtin,rtpengine"), THREADS (built-in media threads, default 1), PHASES (default 20).
import { createSocket, type Socket } from 'node:dgram';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Rtpengine } from '../test/helpers/rtpengine.ts';

type Ports = { a: number; b: number };

if (process.argv[2] === 'host') await host();
else await main();

/** The built-in relay in a process of its own: JSON lines in (open, update, close), JSON lines out. */
async function host(): Promise<void> {
  const { ThreadedMediaEngine } = await import('../dist/media/threaded-engine.js');
  const engine = new ThreadedMediaEngine(() => ({ address: '127.0.0.1', min: 20000, max: 29999 }), Number(process.env['THREADS'] ?? 1));
  const relays: { ports: Ports; update: (side: 'a' | 'b', r: { address: string; port: number; rtcpPort: null }, allowed: string[]) => void; close: () => Promise<unknown> }[] = [];
  for await (const line of createInterface({ input: process.stdin })) {
    const cmd = JSON.parse(line) as { open?: number; update?: { i: number; a: number; b: number }[]; close?: true };
    if (cmd.open) {
      const opened = [];
      for (let i = 0; i < cmd.open; i++) {
        const r = await engine.openRelay();
        relays.push(r);
        opened.push(r.ports);
      }
      process.stdout.write(`${JSON.stringify(opened)}\n`);
    } else if (cmd.update) {
      for (const u of cmd.update) {
        relays[u.i]!.update('a', { address: '127.0.0.1', port: u.a, rtcpPort: null }, ['127.0.0.1']);
        relays[u.i]!.update('b', { address: '127.0.0.1', port: u.b, rtcpPort: null }, ['127.0.0.1']);
      }
      process.stdout.write('[]\n');
    } else if (cmd.close) {
      await Promise.all(relays.splice(0).map((r) => r.close()));
      process.stdout.write('[]\n');
    }
  }
  await engine.close();
}

interface Relays {
  name: string;
  pid: number;
  open(n: number): Promise<Ports[]>;
  /** Tells relay i where its parties are. */
  update(parties: { i: number; a: number; b: number }[]): Promise<void>;
  closeAll(): Promise<void>;
  stop(): Promise<void>;
}

async function builtin(): Promise<Relays> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), 'host'], { stdio: ['pipe', 'pipe', 'inherit'], env: process.env });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const ask = async (cmd: unknown) => {
    child.stdin!.write(`${JSON.stringify(cmd)}\n`);
    return JSON.parse((await lines.next()).value as string) as Ports[];
  };
  return {
    name: 'built-in',
    pid: child.pid!,
    open: (n) => ask({ open: n }),
    update: async (parties) => void (await ask({ update: parties })),
    closeAll: async () => void (await ask({ close: true })),
    stop: async () => {
      child.stdin!.end();
      await new Promise((r) => child.once('exit', r));
    },
  };
}

async function rtpengine(): Promise<Relays> {
  const { NgClient, RtpengineRelay } = await import('../dist/media/rtpengine.js');
  const r = await Rtpengine.start({ portMin: 30000, portMax: 39999 });
  const ng = new NgClient(() => `127.0.0.1:${r.ngPort}`);
  let relays: InstanceType<typeof RtpengineRelay>[] = [];
  return {
    name: 'rtpengine',
    pid: r.child.pid!,
    open: async (n) => {
      const opened = [];
      for (let i = 0; i < n; i++) {
        const relay = await RtpengineRelay.open(ng);
        relays.push(relay);
        opened.push(relay.ports);
      }
      return opened;
    },
    update: async (parties) => {
      for (const u of parties) {
        relays[u.i]!.update('a', { address: '127.0.0.1', port: u.a, rtcpPort: null });
        relays[u.i]!.update('b', { address: '127.0.0.1', port: u.b, rtcpPort: null });
      }
      await Promise.all(relays.map((x) => x.settled()));
    },
    closeAll: async () => {
      await Promise.all(relays.map((x) => x.close()));
      relays = [];
    },
    stop: async () => {
      ng.close();
      r.stop();
    },
  };
}

/** CPU seconds (user + system) of a process and its threads so far. */
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

interface Stream {
  from: Socket;
  toPort: number;
  seq: number;
  ssrc: number;
}

interface Figures {
  sent: number;
  received: number;
  delays: number[];
  jitter: number[];
}

/**
 * N calls for WINDOW seconds: each party sends a 172-byte packet every 20 ms (parties
 * spread over PHASES 1 ms groups) to `target(i, side)`. Counts and delays are taken
 * over the window after one second of warm-up.
 */
async function run(n: number, windowSeconds: number, target: (i: number, side: 'a' | 'b') => number, parties: { a: Socket; b: Socket }[]): Promise<Figures> {
  const phases = Number(process.env['PHASES'] ?? 20);
  const fig: Figures = { sent: 0, received: 0, delays: [], jitter: [] };
  let counting = false;
  const streams: Stream[] = [];
  const transit = new Map<number, { last: number; j: number }>();
  for (let i = 0; i < n; i++) {
    for (const side of ['a', 'b'] as const) streams.push({ from: parties[i]![side], toPort: target(i, side), seq: 0, ssrc: i * 2 + (side === 'a' ? 0 : 1) });
  }
  const onMessage = (msg: Buffer) => {
    if (!counting || msg.length < 20) return;
    const now = performance.now();
    const sentAt = msg.readDoubleBE(12);
    const ssrc = msg.readUInt32BE(8);
    fig.received++;
    fig.delays.push(now - sentAt);
    // RFC 3550 §6.4.1: J += (|D| − J) / 16, D the change in transit time.
    const t = transit.get(ssrc);
    const tr = now - sentAt;
    if (t) {
      t.j += (Math.abs(tr - t.last) - t.j) / 16;
      t.last = tr;
    } else transit.set(ssrc, { last: tr, j: 0 });
  };
  for (const p of parties.slice(0, n)) {
    p.a.on('message', onMessage);
    p.b.on('message', onMessage);
  }
  const payload = Buffer.alloc(172);
  payload[0] = 0x80;
  const timers: NodeJS.Timeout[] = [];
  for (let ph = 0; ph < phases; ph++) {
    const group = streams.filter((_, k) => k % phases === ph);
    timers.push(
      setTimeout(() => {
        timers.push(
          setInterval(() => {
            for (const s of group) {
              const pkt = Buffer.from(payload);
              pkt.writeUInt16BE(s.seq++ & 0xffff, 2);
              pkt.writeUInt32BE(s.ssrc, 8);
              pkt.writeDoubleBE(performance.now(), 12);
              s.from.send(pkt, s.toPort, '127.0.0.1');
              if (counting) fig.sent++;
            }
          }, 20),
        );
      }, ph),
    );
  }
  await sleep(1000);
  counting = true;
  await sleep(windowSeconds * 1000);
  counting = false;
  for (const t of timers) clearInterval(t);
  await sleep(200); // the last packets of the window arrive
  for (const p of parties.slice(0, n)) {
    p.a.removeListener('message', onMessage);
    p.b.removeListener('message', onMessage);
  }
  fig.jitter = [...transit.values()].map((t) => t.j);
  return fig;
}

function pct(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = Float64Array.from(values).sort();
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function main(): Promise<void> {
  const levels = (process.env['LEVELS'] ?? '50,100,200,400').split(',').map(Number);
  const windowSeconds = Number(process.env['WINDOW'] ?? 5);
  const engines = (process.env['ENGINES'] ?? 'builtin,rtpengine').split(',');
  const max = Math.max(...levels);
  const parties: { a: Socket; b: Socket }[] = [];
  for (let i = 0; i < max; i++) {
    const bind = async () => {
      const s = createSocket('udp4');
      await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
      return s;
    };
    parties.push({ a: await bind(), b: await bind() });
  }
  const port = (s: Socket) => s.address().port;
  console.log(`Anchored G.711 calls, ${windowSeconds} s per level, parties in this process (${process.env['PHASES'] ?? 20} phases)`);
  const results = new Map<string, Map<number, { pps: number; loss: number; p50: number; p99: number; jitter: number; cpu: number; perCpu: number }>>();
  // The parties' own delay: the same traffic sent party to party directly.
  const direct = new Map<number, { p50: number; p99: number }>();
  for (const n of levels) {
    const f = await run(n, windowSeconds, (i, side) => port(side === 'a' ? parties[i]!.b : parties[i]!.a), parties);
    direct.set(n, { p50: pct(f.delays, 50), p99: pct(f.delays, 99) });
  }
  for (const name of engines) {
    const relays = name === 'rtpengine' ? await rtpengine() : await builtin();
    const rows = new Map<number, { pps: number; loss: number; p50: number; p99: number; jitter: number; cpu: number; perCpu: number }>();
    results.set(relays.name, rows);
    for (const n of levels) {
      const ports = await relays.open(n);
      await relays.update(ports.map((_, i) => ({ i, a: port(parties[i]!.a), b: port(parties[i]!.b) })));
      const cpu0 = cpuSeconds(relays.pid);
      const t0 = performance.now();
      const f = await run(n, windowSeconds, (i, side) => (side === 'a' ? ports[i]!.a : ports[i]!.b), parties);
      const elapsed = (performance.now() - t0) / 1000;
      const cpu = (cpuSeconds(relays.pid) - cpu0) / elapsed;
      const pps = f.received / windowSeconds;
      const d = direct.get(n)!;
      rows.set(n, {
        pps,
        loss: f.sent === 0 ? 0 : Math.max(0, 1 - f.received / f.sent),
        p50: pct(f.delays, 50) - d.p50,
        p99: pct(f.delays, 99) - d.p99,
        jitter: f.jitter.reduce((a, b) => a + b, 0) / Math.max(1, f.jitter.length),
        cpu,
        perCpu: cpu > 0 ? pps / cpu : NaN,
      });
      await relays.closeAll();
    }
    await relays.stop();
  }
  const fmt = (v: number, d = 1) => (Number.isFinite(v) ? v.toFixed(d) : '-');
  console.log('\nrelay       calls  relayed pkt/s  loss %  +delay p50/p99 ms  jitter ms  relay CPU %  pkt per CPU-s');
  for (const [name, rows] of results) {
    for (const [n, r] of rows) {
      console.log(
        `${name.padEnd(10)} ${String(n).padStart(6)} ${fmt(r.pps, 0).padStart(14)} ${fmt(r.loss * 100, 2).padStart(7)} ${`${fmt(r.p50, 2)}/${fmt(r.p99, 2)}`.padStart(18)} ${fmt(r.jitter, 2).padStart(10)} ${fmt(r.cpu * 100, 0).padStart(12)} ${fmt(r.perCpu, 0).padStart(14)}`,
      );
    }
  }
  const b = results.get('built-in');
  const e = results.get('rtpengine');
  if (b && e) {
    console.log('\nbuilt-in / rtpengine');
    for (const n of levels) {
      const x = b.get(n)!;
      const y = e.get(n)!;
      console.log(`  ${String(n).padStart(4)} calls: packets per CPU-second ${fmt(x.perCpu / y.perCpu, 2)}×, relayed pkt/s ${fmt(x.pps / y.pps, 2)}×`);
    }
    const fit = (rows: Map<number, { loss: number }>) => Math.max(0, ...[...rows].filter(([, r]) => r.loss < 0.01).map(([n]) => n));
    console.log(`  most calls with < 1 % loss (of the levels run): built-in ${fit(b)}, rtpengine ${fit(e)}`);
  }
  for (const p of parties) {
    p.a.close();
    p.b.close();
  }
  process.exit(0);
}
