// The least a server must do for bench/storm.ts's phones, in Node, without the pbx: a bare
// node:http server and a node:dgram socket answering each phone's exchanges (its boot
// file, the common file, its own file behind a digest challenge with a single-use nonce,
// then a REGISTER challenged and checked), with files of the pbx's sizes made by string
// concatenation, no log, no database, no template engine. `FLOOR=1 node --import tsx
// bench/storm.ts` runs the storm against it: what is left above its figures is the pbx's
// own work. Not a test.
//
//   node bench/storm-floor.mjs HTTP_PORT SIP_PORT     (started by bench/storm.ts)
import { createHash, randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:http';

const [httpPort, sipPort] = process.argv.slice(2).map(Number);
if (!httpPort || !sipPort) {
  console.error('usage: node bench/storm-floor.mjs HTTP_PORT SIP_PORT');
  process.exit(2);
}
const REALM = 'pbx';
const md5 = (s) => createHash('md5').update(s).digest('hex');
// The storm's credentials, from the phone's index (bench/storm.ts makes them the same way).
const password = (i) => `storm-Pw-${md5(String(i)).slice(0, 12)}`;
const indexOfMac = (mac) => parseInt(mac.slice(7), 16);
const nonces = new Map();
const issue = (ip) => {
  const nonce = randomBytes(18).toString('base64url');
  nonces.set(nonce, { ip, expires: Date.now() + 300_000 });
  return nonce;
};
/** The digest answer in an Authorization header checked against the password; the nonce is spent. */
function verify(header, method, ip, user, pass) {
  const p = Object.fromEntries([...header.matchAll(/(\w+)="?([^",]*)"?/g)].map((m) => [m[1], m[2]]));
  const issued = nonces.get(p.nonce);
  if (!issued) return false;
  nonces.delete(p.nonce);
  if (issued.ip !== ip || issued.expires < Date.now() || p.username !== user) return false;
  const ha1 = md5(`${user}:${REALM}:${pass}`);
  return md5(`${ha1}:${p.nonce}:${p.nc}:${p.cnonce}:${p.qop}:${md5(`${method}:${p.uri}`)}`) === p.response;
}

// Files of about the sizes the pbx serves a T46S (boot ~300 B, common ~250 B, own ~2.4 KB).
const filler = (n) => `# ${'x'.repeat(n - 3)}\n`;
const bootFile = (mac) => `#!version:1.0.0.1\n## the boot file of ${mac}\ninclude:config "y000000000066.cfg"\ninclude:config "${mac}.cfg"\noverwrite_mode = 1\n${filler(150)}`;
const commonFile = `#!version:1.0.0.1\n${filler(230)}`;
const deviceFile = (mac, user, pass) =>
  `#!version:1.0.0.1\n## ${mac}\naccount.1.enable = 1\naccount.1.label = ${user}\naccount.1.auth_name = ${user}\naccount.1.user_name = ${user}\naccount.1.password = ${pass}\naccount.1.sip_server.1.address = 127.0.0.1\naccount.1.sip_server.1.port = ${sipPort}\n${filler(2150)}`;

const send = (res, status, body, headers = {}) => {
  res.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
};
const http = createServer((req, res) => {
  const name = req.url.slice(req.url.lastIndexOf('/') + 1);
  const ip = req.socket.remoteAddress;
  if (name.endsWith('.boot')) return send(res, 200, bootFile(name.slice(0, -5)));
  if (name === 'y000000000066.cfg') return send(res, 200, commonFile);
  const mac = name.slice(0, -4);
  const pass = password(indexOfMac(mac));
  const auth = req.headers.authorization;
  if (auth && verify(auth, 'GET', ip, mac, pass)) return send(res, 200, deviceFile(mac, String(200000 + indexOfMac(mac)), pass));
  send(res, 401, '', { 'www-authenticate': `Digest realm="${REALM}", qop="auth", nonce="${issue(ip)}", algorithm=MD5` });
});
http.keepAliveTimeout = 60_000;
http.listen({ host: '127.0.0.1', port: httpPort, backlog: 4096 }, () => console.log(`floor: HTTP ${httpPort}`));

const bindings = new Map();
const sip = createSocket('udp4');
const header = (text, name) => {
  const at = text.search(new RegExp(`^${name}:`, 'im'));
  return at < 0 ? '' : text.slice(text.indexOf(':', at) + 1, text.indexOf('\r\n', at)).trim();
};
sip.on('message', (m, from) => {
  const text = m.toString('latin1');
  if (!text.startsWith('REGISTER ')) return;
  const user = /sip:(\d+)@/.exec(header(text, 'To'))?.[1] ?? '';
  const common = ['Via', 'From', 'To', 'Call-ID', 'CSeq'].map((h) => `${h}: ${header(text, h)}${h === 'To' ? ';tag=floor' : ''}\r\n`).join('');
  const auth = header(text, 'Authorization');
  if (auth && verify(auth, 'REGISTER', from.address, user, password(Number(user) - 200000))) {
    const contact = header(text, 'Contact');
    bindings.set(user, { contact, expires: Date.now() + 3600_000 });
    sip.send(`SIP/2.0 200 OK\r\n${common}Contact: ${contact};expires=3600\r\nContent-Length: 0\r\n\r\n`, from.port, from.address);
    return;
  }
  sip.send(`SIP/2.0 401 Unauthorized\r\n${common}WWW-Authenticate: Digest realm="${REALM}", nonce="${issue(from.address)}", algorithm=MD5, qop="auth"\r\nContent-Length: 0\r\n\r\n`, from.port, from.address);
});
sip.bind(sipPort, '127.0.0.1', () => console.log(`floor: SIP ${sipPort}`));
