// Phone file fetches the way a provisioned phone makes them: GET → 401 with a digest
// challenge → GET with the answer (MD5, qop=auth) → 200, over keep-alive connections.
// Prints authenticated fetches per second (each is two HTTP requests). Used by
// bench/provisioning.sh; not a test.
//   node bench/digest-fetch.mjs <url> <user> <password> [seconds=10] [connections=32]
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';

const [url, user, password, seconds = '10', connections = '32'] = process.argv.slice(2);
if (!url || !user || !password) {
  console.error('usage: node bench/digest-fetch.mjs <url> <user> <password> [seconds] [connections]');
  process.exit(2);
}
const target = new URL(url);
const path = target.pathname;
const md5 = (s) => createHash('md5').update(s).digest('hex');
const ha2 = md5(`GET:${path}`);

function get(agent, authorization) {
  return new Promise((ok, fail) => {
    const req = http.request(
      { host: target.hostname, port: target.port, path, agent, headers: authorization ? { authorization } : {} },
      (res) => {
        res.resume();
        res.on('end', () => ok(res));
      },
    );
    req.on('error', fail);
    req.end();
  });
}

function answer(challengeHeader) {
  const md5Challenge = [challengeHeader].flat().find((c) => /algorithm=MD5/i.test(c));
  const p = (k) => new RegExp(`${k}="([^"]*)"`).exec(md5Challenge)?.[1];
  const realm = p('realm');
  const nonce = p('nonce');
  const cnonce = randomBytes(8).toString('hex');
  const nc = '00000001';
  const response = md5(`${md5(`${user}:${realm}:${password}`)}:${nonce}:${nc}:${cnonce}:auth:${ha2}`);
  return `Digest username="${user}", realm="${realm}", nonce="${nonce}", uri="${path}", algorithm=MD5, qop=auth, nc=${nc}, cnonce="${cnonce}", response="${response}"`;
}

const deadline = Date.now() + Number(seconds) * 1000;
let done = 0;
let failed = 0;
let unchallenged = 0;
async function client() {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  while (Date.now() < deadline) {
    const first = await get(agent);
    if (first.statusCode === 200) {
      unchallenged++; // inside the device's first-fetch window: not what this measures
      continue;
    }
    const second = first.statusCode === 401 ? await get(agent, answer(first.headers['www-authenticate'])) : first;
    if (second.statusCode === 200) done++;
    else failed++;
  }
  agent.destroy();
}
const started = Date.now();
await Promise.all(Array.from({ length: Number(connections) }, client));
const elapsed = (Date.now() - started) / 1000;
console.log(JSON.stringify({ fetches_per_second: Math.round(done / elapsed), failed: failed + unchallenged, unchallenged, seconds: elapsed }));
