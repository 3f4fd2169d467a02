// TFTP server figures (not a test): `node --import tsx bench/tftp.ts`.
// The server alone (src/tftp/server.ts) on 127.0.0.1 with an in-memory provider, and
// its clients in the same process (test/helpers/tftp-client.ts), so every figure is a
// lower bound: client and server share one core. Settings: SECONDS (default 3).
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { TftpServer, ERR } from '../src/tftp/server.ts';
import { rrq, tftpGet } from '../test/helpers/tftp-client.ts';

const SECONDS = Number(process.env['SECONDS'] ?? 3);
const files = new Map([
  ['phone.cfg', randomBytes(3_000)],
  ['firmware.bin', randomBytes(1_000_000)],
]);
const server = new TftpServer({
  provider: (name) => {
    if (name === 'banned') return { status: 'error', code: ERR.ACCESS_VIOLATION, message: 'Access violation' };
    const body = files.get(name);
    return body ? { status: 'ok', body } : { status: 'error', code: ERR.NOT_FOUND, message: 'File not found' };
  },
  maxTransfers: 1000,
  maxBlockSize: 65464,
});
const { port } = await server.listen(0, '127.0.0.1');

async function transfersPerSecond(concurrency: number, blksize: number): Promise<number> {
  let done = 0;
  const end = Date.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < end) {
        const r = await tftpGet({ port, file: 'phone.cfg', options: { blksize, tsize: 0 }, rrqRetryMs: 1000 });
        if (r.error || r.data.length !== 3_000) throw new Error(`transfer failed: ${JSON.stringify(r.error)}`);
        done++;
      }
    }),
  );
  return done / SECONDS;
}

async function throughput(blksize: number): Promise<number> {
  const t0 = process.hrtime.bigint();
  const r = await tftpGet({ port, file: 'firmware.bin', options: { blksize } });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.data.length !== 1_000_000) throw new Error('short transfer');
  return 1 / s; // MB/s
}

/** Refused requests (what a banned address costs): RRQs sent as fast as answers come back. */
async function refusalsPerSecond(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((ok) => s.bind(0, '127.0.0.1', () => ok()));
  const packet = rrq('banned');
  let answers = 0;
  const window = 64;
  const end = Date.now() + SECONDS * 1000;
  let sent = 0;
  const send = () => {
    sent++;
    s.send(packet, port, '127.0.0.1');
  };
  await new Promise<void>((ok) => {
    setTimeout(ok, SECONDS * 1000 + 500); // a datagram dropped under load must not hang the run
    s.on('message', () => {
      answers++;
      if (Date.now() < end) send();
      else if (answers === sent) ok();
    });
    for (let i = 0; i < window; i++) send();
  });
  s.close();
  return answers / SECONDS;
}

const rows: [string, string][] = [];
for (const c of [1, 16]) rows.push([`3 kB file, blksize 1468, ${c} client(s) at once`, `${(await transfersPerSecond(c, 1468)).toFixed(0)} transfers/s`]);
rows.push(['3 kB file, blksize 512 (no options), 16 clients', `${(await transfersPerSecond(16, 512)).toFixed(0)} transfers/s`]);
for (const b of [512, 1468, 8192]) rows.push([`1 MB file, blksize ${b}, one client`, `${(await throughput(b)).toFixed(1)} MB/s`]);
rows.push(['refused request (banned address: no socket, one ERROR packet)', `${(await refusalsPerSecond()).toFixed(0)} answers/s`]);
const mem = process.memoryUsage();
await server.close();

console.log(`TFTP server, 127.0.0.1, node ${process.version}, ${SECONDS} s per figure (client in the same process)`);
for (const [what, figure] of rows) console.log(`  ${what.padEnd(64)} ${figure}`);
console.log(`  retransmissions: ${server.stats.retransmits}, timeouts: ${server.stats.timeouts}, rss ${(mem.rss / 1e6).toFixed(0)} MB`);
