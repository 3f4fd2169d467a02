// What Node's own HTTP layer costs on this machine, without the pbx: a bare node:http
// server answering the phone-file exchanges bench/provisioning.sh drives (a plain GET of a
// 1 KB file; a digest fetch: GET → 401 with a fresh nonce → GET with the MD5 answer, checked
// → 200), in one process or in PROCESSES sharing the listening socket as the pbx's HTTP
// workers do. The same wrk loads as bench/provisioning.sh. The figures are a floor for the
// pbx's own: what is left above them is fastify, routing, the guard, the request log.
// Not a test.
//
//   node bench/http-floor.mjs                  # 1 and 2 processes
//   PROCESSES=2 DURATION=8 node bench/http-floor.mjs
import { execFileSync } from 'node:child_process';
import cluster from 'node:cluster';
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { cpus } from 'node:os';

const PORT = Number(process.env.PORT ?? 18185);
const REALM = 'pbx';
const USER = 'bench';
const PASSWORD = 'bench-password';
const md5 = (s) => createHash('md5').update(s).digest('hex');
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));

if (cluster.isWorker || process.env.HTTP_FLOOR_SERVE) {
  serve();
} else {
  await main();
}

function serve() {
  const body = Buffer.alloc(Number(process.env.BODY_BYTES ?? 1024), 'x');
  const ha1 = md5(`${USER}:${REALM}:${PASSWORD}`);
  const nonces = new Set();
  const server = createServer((req, res) => {
    if (req.url === '/file.cfg') {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
      res.end(body);
      return;
    }
    const auth = req.headers.authorization;
    const params = auth ? Object.fromEntries([...auth.matchAll(/(\w+)="?([^",]*)"?/g)].map((m) => [m[1], m[2]])) : {};
    // Single use, as the pbx's nonces are.
    if (params.nonce && nonces.delete(params.nonce)) {
      const expected = md5(`${ha1}:${params.nonce}:${params.nc}:${params.cnonce}:${params.qop}:${md5(`GET:${params.uri}`)}`);
      if (expected === params.response) {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
        res.end(body);
        return;
      }
    }
    const nonce = randomBytes(18).toString('base64url');
    nonces.add(nonce);
    res.writeHead(401, { 'www-authenticate': `Digest realm="${REALM}", qop="auth", nonce="${nonce}", algorithm=MD5`, 'content-length': 0 });
    res.end();
  });
  server.keepAliveTimeout = 60_000;
  server.listen({ host: '127.0.0.1', port: PORT, backlog: 4096 });
}

async function main() {
  const duration = Number(process.env.DURATION ?? 8);
  const counts = process.env.PROCESSES ? [Number(process.env.PROCESSES)] : [1, 2];
  const connections = Number(process.env.CONNECTIONS ?? 64);
  const digestConnections = Number(process.env.DIGEST_CONNECTIONS ?? 8);
  const lua = fileURLToPath(new URL('./wrk-digest.lua', import.meta.url));
  console.log(`bare node:http ${process.version}; wrk plain c=${connections}, digest c=${digestConnections}; ${duration} s each; ${cpus().length} cores`);
  console.log('server and client (wrk) CPU per file and per fetch:');
  console.log(`${'processes'.padEnd(10)} ${'files/s'.padStart(9)} ${'µs/file'.padStart(8)} ${'client µs'.padStart(10)} ${'digest fetches/s'.padStart(17)} ${'µs/fetch'.padStart(9)} ${'client µs'.padStart(10)}`);
  for (const n of counts) {
    // SCHED_NONE: every process accepts on the one socket, as the pbx's workers do.
    cluster.schedulingPolicy = cluster.SCHED_NONE;
    cluster.setupPrimary({ exec: fileURLToPath(import.meta.url) });
    const workers = Array.from({ length: n }, () => cluster.fork());
    await Promise.all(workers.map((w) => new Promise((resolve) => w.once('listening', resolve))));
    const pids = workers.map((w) => w.process.pid);
    // wrk runs under a shell that prints, once wrk has exited, its children's CPU ticks
    // (cutime, cstime of /proc/self/stat): what the load generator took from the cores.
    let clientTicks = 0;
    const wrk = (args, env = {}) => {
      const out = execFileSync('sh', ['-c', 'wrk "$@"; echo "client-ticks $(cut -d" " -f16,17 /proc/$$/stat)"', 'wrk', ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
      const [u, s] = /client-ticks (\d+) (\d+)/.exec(out).slice(1).map(Number);
      clientTicks = u + s;
      return out;
    };
    wrk(['-t2', `-c${connections}`, '-d2s', `http://127.0.0.1:${PORT}/file.cfg`]); // warm-up
    let t0 = ticks(pids);
    const plain = Number(/Requests\/sec:\s+([\d.]+)/.exec(wrk(['-t2', `-c${connections}`, `-d${duration}s`, `http://127.0.0.1:${PORT}/file.cfg`]))[1]);
    const fileUs = perOpUs(ticks(pids) - t0, plain * duration);
    const fileClientUs = perOpUs(clientTicks, plain * duration);
    t0 = ticks(pids);
    const out = wrk([`-t${digestConnections}`, `-c${digestConnections}`, `-d${duration}s`, '-s', lua, `http://127.0.0.1:${PORT}/device.cfg`], { DIGEST_USER: USER, DIGEST_PASSWORD: PASSWORD });
    const r = JSON.parse(out.split('\n').find((l) => l.startsWith('{"fetched"')));
    if (r.other || r.fetched === 0) throw new Error(`digest fetches: ${r.fetched} delivered, ${r.other} other answers`);
    const fetches = r.fetched / r.seconds;
    const fetchUs = perOpUs(ticks(pids) - t0, r.fetched);
    const fetchClientUs = perOpUs(clientTicks, r.fetched);
    console.log(`${String(n).padEnd(10)} ${plain.toFixed(0).padStart(9)} ${fileUs.toFixed(0).padStart(8)} ${fileClientUs.toFixed(0).padStart(10)} ${fetches.toFixed(0).padStart(17)} ${fetchUs.toFixed(0).padStart(9)} ${fetchClientUs.toFixed(0).padStart(10)}`);
    await Promise.all(workers.map((w) => new Promise((resolve) => { w.once('exit', resolve); w.kill(); })));
  }
}

/** CPU time (clock ticks, user + system) of these processes. */
function ticks(pids) {
  return pids.reduce((sum, pid) => {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return sum + Number(f[11]) + Number(f[12]);
  }, 0);
}

function perOpUs(dTicks, ops) {
  return (dTicks / CLK_TCK) * 1e6 / ops;
}
