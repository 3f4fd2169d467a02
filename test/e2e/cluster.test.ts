// Two pbx nodes on one PostgreSQL behind the Kamailio edge (contrib/kamailio/kamailio.cfg,
// used as it is), all started here. Phones talk to the edge only. A phone registered
// through node A is called by a phone whose calls node B handles; a device created
// through node A's API is served by node B; node A is killed (-9) and its phones are
// still called, through node B and the Path their REGISTER recorded, without
// registering again; node A comes back and takes phones again. The edge also finds a
// phone behind NAT, drops a flood from one address, and carries a registration burst;
// nginx (contrib/nginx/pbx.conf) keeps each phone's digest fetches on one node; a ban
// one node makes holds on the other (the provisioning scanner comes from a network
// namespace, another host; the SIP guesser and the flood come through the edge, which
// listens on loopback only, from other loopback addresses).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { createToken, freePort, freeSipPort, RunningServer, securityLogWith, tempDir, writeConfig } from '../helpers/server.ts';
import { getFrom, getWithDigest } from '../helpers/http-digest.ts';
import { Nginx } from '../helpers/nginx.ts';
import { TestUa } from '../helpers/sip-client.ts';
import { Kamailio } from '../helpers/kamailio.ts';
import { sipp } from '../helpers/sipp.ts';
import { Netns } from '../helpers/netns.ts';

let pgs: TestPostgres;
let edge: Kamailio;
let token: string;
/** Another host, for the bans a node must make (a node never bans its own addresses). */
let netns: Netns;
const nodes: Record<'a' | 'b', { dir: string; file: string; port: number; sipPort: number; server: RunningServer | null }> = {} as never;
const phones = new Map<string, TestUa>();

const SDP = (port: number) => `v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio ${port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n`;

async function nodeConfig(name: 'a' | 'b', url: string, dir: string) {
  const port = await freePort();
  const sipPort = await freeSipPort();
  // The edge is 127.0.0.1; phones that must be told apart from it use other loopback addresses.
  const file = writeConfig(dir, {
    port,
    sipPort,
    postgresUrl: url,
    logLevel: 'info',
    extra: `cluster:\n  node_id: ${name}\n  edge_addresses: [127.0.0.1]\nsip:\n  guard:\n    max_auth_failures: 3\nvoicemail:\n  enabled: false\n`,
  });
  // HTTP on every address, so the other host (netns) reaches it too. nginx in front of the
  // nodes' HTTP is on 127.0.0.1: its X-Forwarded-For names the phone. No first-fetch
  // window: every fetch of a phone's file shows its credential.
  writeFileSync(
    file,
    readFileSync(file, 'utf8')
      .replace(`api:\n  host: 127.0.0.1\n  port: ${port}\n`, `api:\n  host: 0.0.0.0\n  port: ${port}\n  trusted_proxies: [127.0.0.1/32]\n`)
      .replace('\nprovisioning:\n', '\nprovisioning:\n  auth:\n    first_fetch_minutes: 0\n'),
  );
  return { dir, file, port, sipPort, server: null };
}

/** Polls until `check` holds. */
async function eventually(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Which node holds each phone's registration (as its own), per the nodes' API. */
async function registeredOn(): Promise<Map<string, string>> {
  const where = new Map<string, string>();
  for (const name of ['a', 'b'] as const) {
    const s = nodes[name].server;
    if (!s || s.child.exitCode !== null) continue;
    const regs = await s.api('GET', '/api/registrations', token);
    for (const r of regs.json.registrations as { extension: string; node: string }[]) if (r.node === name) where.set(r.extension, name);
  }
  return where;
}

/** The n-th file of a scanner's MAC walk: none of them a device. */
const unknownMacPath = (n: number) => `/provision/0015650${String(n).padStart(5, '0')}.cfg`;

/** A scanner's request from `from` (a loopback address: through nginx, which names it). */
function askForUnknownMac(port: number, from: string, n: number) {
  return getFrom({ port, path: unknownMacPath(n), localAddress: from });
}

/** The phone answers every INVITE with 200 and SDP, and counts them. */
function answering(ua: TestUa): { invites: number } {
  const seen = { invites: 0 };
  ua.onRequest = (req) => {
    if (req.method === 'INVITE') {
      seen.invites++;
      return { status: 200, reason: 'OK', extra: [`Contact: <sip:${ua.user}@127.0.0.1:${ua.port}>`, 'Content-Type: application/sdp'], body: SDP(ua.port + 1) };
    }
    return { status: 200, reason: 'OK' };
  };
  return seen;
}

before(async () => {
  netns = new Netns('cls');
  pgs = await startPostgres();
  const url = await pgs.createDatabase('pbx_cluster');
  nodes.a = await nodeConfig('a', url, tempDir());
  token = await createToken(nodes.a.file);
  nodes.a.server = await RunningServer.start(nodes.a.file, nodes.a.port);
  // Every node needs the same secret key: it seals the SIP secrets in the shared database.
  const dirB = tempDir();
  mkdirSync(join(dirB, 'data'));
  copyFileSync(join(nodes.a.dir, 'data', 'secret.key'), join(dirB, 'data', 'secret.key'));
  nodes.b = await nodeConfig('b', url, dirB);
  nodes.b.server = await RunningServer.start(nodes.b.file, nodes.b.port);
  edge = await Kamailio.start([`sip:127.0.0.1:${nodes.a.sipPort}`, `sip:127.0.0.1:${nodes.b.sipPort}`]);
});

after(async () => {
  for (const p of phones.values()) p.close();
  for (const n of Object.values(nodes)) await n.server?.stop();
  await edge?.stop();
  await pgs?.stop();
  netns?.close();
});

test('phones register through the edge; a phone registered through node A is called by a phone whose calls node B handles', async () => {
  const numbers = ['8101', '8102', '8103', '8104', '8105', '8106', '8107', '8108', '8109', '8110'];
  for (const n of numbers) {
    const r = await nodes.a.server!.api('POST', '/api/extensions', token, { number: n, digest_algorithms: ['MD5'] });
    assert.equal(r.status, 201, r.text);
    phones.set(n, await new TestUa({ host: '127.0.0.1', port: edge.port }, n, r.json.password).open());
  }
  await eventually('node B knows the extensions', async () => (await nodes.b.server!.api('GET', '/api/extensions/8110', token)).status === 200);
  for (const [n, ua] of phones) {
    const reg = await ua.register({ expires: 600 });
    assert.equal(reg.reply.status, 200, `${n}: ${reg.reply.status}\n${edge.log.slice(-2000)}`);
  }
  const where = await registeredOn();
  assert.equal(where.size, numbers.length, 'every registration is held by one node');
  const onA = [...where].filter(([, node]) => node === 'a').map(([n]) => n);
  const onB = [...where].filter(([, node]) => node === 'b').map(([n]) => n);
  assert.ok(onA.length > 0 && onB.length > 0, `the edge spreads the phones over both nodes: A ${onA}, B ${onB}`);
  // Node B reaches node A's phones through the edge (their Path), and the other way round.
  await eventually("node B sees node A's registrations with their Path", async () => {
    const regs = (await nodes.b.server!.api('GET', '/api/registrations', token)).json.registrations as { extension: string; node: string; path: string[] | null }[];
    return onA.every((n) => regs.some((r) => r.extension === n && r.node === 'a' && r.path?.[0]?.includes(`:${edge.port}`)));
  });

  const callee = phones.get(onA[0]!)!;
  const caller = phones.get(onB[0]!)!;
  const heard = answering(callee);
  const call = await caller.invite(callee.user, SDP(caller.port + 1));
  assert.equal(call.status, 200, `${call.status} ${call.reply.reason}\n${call.reply.raw}\n${nodes.b.server!.log.slice(-3000)}`);
  assert.equal(heard.invites, 1);
  assert.equal((await caller.bye(call)).status, 200);
  const cdr = await nodes.b.server!.api('GET', `/api/cdr?extension=${callee.user}`, token);
  assert.ok(
    (cdr.json.cdr as { caller: string; callee: string; result: string }[]).some((c) => c.caller === caller.user && c.callee === callee.user && c.result === 'answered'),
    `node B's call record: ${cdr.text}`,
  );
});

test('a device created through node A is served by node B at once', async () => {
  const mac = '001565c1a5e1';
  const dev = await nodes.a.server!.api('POST', '/api/provisioning/devices', token, { mac_address: mac, extension_number: '8101', vendor: 'yealink', model: 'T46S' });
  assert.equal(dev.status, 201, dev.text);
  const cred = { user: dev.json.provisioning_username, password: dev.json.provisioning_password };
  const started = Date.now();
  await eventually('node B serves the file', async () => (await getWithDigest({ port: nodes.b.port, path: `/provision/${mac}.cfg`, headers: { 'user-agent': 'Yealink SIP-T46S 66.86.0.15 00:15:65:c1:a5:e1' } }, cred)).status === 200, 3000);
  assert.ok(Date.now() - started < 3000);
});

test('through nginx (contrib/nginx/pbx.conf) in front of both nodes: phones are spread over the nodes, each phone\'s digest fetches succeed, and a scanner\'s ban holds', async () => {
  const ng = await Nginx.start([nodes.a.port, nodes.b.port]);
  try {
    const mac = '001565c1a5e2';
    const dev = await nodes.a.server!.api('POST', '/api/provisioning/devices', token, { mac_address: mac, extension_number: '8102', vendor: 'yealink', model: 'T46S' });
    assert.equal(dev.status, 201, dev.text);
    const cred = { user: dev.json.provisioning_username, password: dev.json.provisioning_password };
    const headers = { 'user-agent': 'Yealink SIP-T46S 66.86.0.15 00:15:65:c1:a5:e2' };
    await eventually('node B has the device', async () => (await getWithDigest({ port: nodes.b.port, path: `/provision/${mac}.cfg`, headers }, cred)).status === 200, 3000);
    // Sixteen phones (addresses), two fetches each: every challenge is answered where it was
    // issued (a nonce is used once, by the node that made it).
    for (let i = 0; i < 16; i++) {
      for (let k = 0; k < 2; k++) {
        const r = await getWithDigest({ port: ng.port, path: `/provision/${mac}.cfg`, headers, localAddress: `127.0.0.${60 + i}` }, cred);
        assert.equal(r.status, 200, `phone 127.0.0.${60 + i}, fetch ${k + 1}: ${r.status}`);
      }
    }
    for (const name of ['a', 'b'] as const) {
      await nodes[name].server!.waitForLog(/"ip":"127\.0\.0\.(6\d|7[0-5])"[^\n]*Provisioning config delivered/, 3000).catch(() => {
        throw new Error(`node ${name} served none of the sixteen phones: nginx does not spread them`);
      });
    }
    // A scanner walking MACs: banned after provisioning.guard.max_misses (10), and refused from then on.
    for (let n = 0; n < 11; n++) await askForUnknownMac(ng.port, '127.0.0.59', n);
    for (let n = 11; n < 21; n++) assert.equal((await askForUnknownMac(ng.port, '127.0.0.59', n)).status, 403, `scan ${n} after the ban`);
  } finally {
    await ng.stop();
  }
});

test("a phone behind the edge that guesses passwords is banned by its own address, not the edge's: the other phones still register", async () => {
  const where = await registeredOn();
  const target = [...where][0]!;
  const node = nodes[target[1] as 'a' | 'b'];
  const guesser = await new TestUa({ host: '127.0.0.1', port: edge.port }, target[0], 'wrong-password').open(0, '127.0.0.66');
  try {
    for (let i = 0; i < 3; i++) assert.equal((await guesser.register({ expires: 600 })).reply.status, 401);
    const log = await securityLogWith(node.dir, /event=ban .*ip=127\.0\.0\.66/);
    assert.match(log, /event=auth-failure .*ip=127\.0\.0\.66/, 'the failures are the phone\'s, as the edge saw it');
    assert.doesNotMatch(log, /event=ban .*ip=127\.0\.0\.1\b/, 'the edge is never banned');
    // Through the edge a refusal is said out loud (silence would make the edge take the node for dead).
    assert.equal((await guesser.register({ expires: 600 })).reply.status, 403, 'the banned phone is refused');
    assert.ok(node.server!.child.exitCode === null);
    // The other node holds the ban too: its first REGISTER from there, for an extension
    // the edge hands to that node, is refused without a challenge.
    const other = nodes[target[1] === 'a' ? 'b' : 'a'];
    await other.server!.waitForLog(/127\.0\.0\.66 banned by another node \(sip\)/, 5000);
    const elsewhere = [...where].find(([, n]) => nodes[n as 'a' | 'b'] === other)![0];
    const guesser2 = await new TestUa({ host: '127.0.0.1', port: edge.port }, elsewhere, 'wrong-password').open(0, '127.0.0.66');
    try {
      assert.equal((await guesser2.register({ expires: 600 })).reply.status, 403, `${elsewhere} (the other node) from the banned address`);
    } finally {
      guesser2.close();
    }
  } finally {
    guesser.close();
  }
  for (const ua of phones.values()) assert.equal((await ua.register({ expires: 600 })).reply.status, 200, `${ua.user} still registers through the edge`);
});

test("a scanner on another host banned by one node's provisioning guard is refused by the other node too, and that address only", async () => {
  const scan = (node: 'a' | 'b', n: number, from = netns.peerIp) => netns.getStatus(`http://${netns.hostIp}:${nodes[node].port}${unknownMacPath(n)}`, from);
  for (let n = 0; n < 11; n++) assert.equal(await scan('a', n), 404, `scan ${n} before the ban`);
  assert.equal(await scan('a', 11), 403, 'node A banned the scanner');
  await nodes.b.server!.waitForLog(new RegExp(`${netns.peerIp.replaceAll('.', '\\.')} banned by another node \\(provisioning\\)`), 5000);
  assert.equal(await scan('b', 12), 403, 'node B refuses it before it missed there');
  assert.equal(await scan('b', 13, netns.peerIp2), 404, 'another address of that host is still answered');
});

test('a phone behind NAT (its Via and Contact name a private address) is called through the edge at the address it really sends from, and the hang-up reaches it', async () => {
  const created = await nodes.a.server!.api('POST', '/api/extensions', token, { number: '8120', digest_algorithms: ['MD5'] });
  assert.equal(created.status, 201, created.text);
  const natted = await new TestUa({ host: '127.0.0.1', port: edge.port }, '8120', created.json.password).open();
  natted.sentBy = '192.168.1.50:5060'; // unreachable from here: only the NAT handling finds the phone
  try {
    await eventually('node B knows the extension', async () => (await nodes.b.server!.api('GET', '/api/extensions/8120', token)).status === 200);
    assert.equal((await natted.register({ expires: 600 })).reply.status, 200);
    natted.onRequest = (req) =>
      req.method === 'INVITE'
        ? { status: 200, reason: 'OK', extra: ['Contact: <sip:8120@192.168.1.50:5060>', 'Content-Type: application/sdp'], body: SDP(natted.port + 1) }
        : { status: 200, reason: 'OK' };
    // The binding keeps the private Contact; the edge's Path carries where the REGISTER really came from.
    await eventually('both nodes hold the binding with the Path', async () => {
      for (const name of ['a', 'b'] as const) {
        const regs = (await nodes[name].server!.api('GET', '/api/registrations', token)).json.registrations as { extension: string; contact: string; path: string[] | null }[];
        const mine = regs.find((r) => r.extension === '8120');
        if (!mine?.contact.includes('192.168.1.50') || !mine.path?.[0]?.includes(String(natted.port))) return false;
      }
      return true;
    });
    for (const caller of [phones.get('8101')!, phones.get('8102')!]) {
      const call = await caller.invite('8120', SDP(caller.port + 1));
      assert.equal(call.status, 200, `${caller.user} → 8120: ${call.status} ${call.reply.reason}\n${edge.log.slice(-2000)}`);
      assert.match(call.contact, /alias=/, 'the edge gave the answer\'s private Contact an alias');
      assert.equal((await caller.bye(call)).status, 200);
      await natted.waitRequest((r) => r.method === 'BYE' && r.headers.get('call-id')?.[0] === call.callId, 5000);
    }
  } finally {
    natted.close();
  }
});

test('the edge drops a flood from one address (pike) and that address only: the phones still register', async () => {
  // 300 OPTIONS for the edge itself within a second from 127.0.0.99: the edge answers them
  // itself, so what comes back is what pike let through (PIKE_REQUESTS, 60 per two seconds).
  const flooder = createSocket('udp4');
  await new Promise<void>((ok) => flooder.bind(0, '127.0.0.99', ok));
  let answered = 0;
  flooder.on('message', (m) => {
    if (m.toString('latin1').startsWith('SIP/2.0 200')) answered++;
  });
  try {
    const { port } = flooder.address();
    for (let i = 0; i < 300; i++) {
      const msg =
        `OPTIONS sip:127.0.0.1:${edge.port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.99:${port};branch=z9hG4bKflood${i};rport\r\n` +
        `From: <sip:flood@127.0.0.99>;tag=f${i}\r\nTo: <sip:127.0.0.1:${edge.port}>\r\nCall-ID: flood-${i}@127.0.0.99\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`;
      flooder.send(msg, edge.port, '127.0.0.1');
      if (i % 50 === 49) await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(answered >= 30, `the edge answered the address at first: ${answered}`);
    assert.ok(answered <= 150, `the edge dropped the rest of the flood: ${answered} of 300 answered`);
    assert.match(edge.log, /pike: 127\.0\.0\.99 sends too many requests/);
    assert.doesNotMatch(edge.log, /pike: 127\.0\.0\.1 /, 'the phones\' address is not limited');
    for (const ua of phones.values()) assert.equal((await ua.register({ expires: 600 })).reply.status, 200, `${ua.user} still registers through the edge`);
  } finally {
    flooder.close();
  }
});

test('the edge relays a burst of 800 registrations a second (a boot storm) without running out of shared memory', async () => {
  // Each relayed transaction stays in the edge's shared memory until its wait timer ends:
  // with Debian's 64 MB and Kamailio's default branches per transaction, the edge refused
  // REGISTERs from ~600 a second on ("could not allocate shared memory"). The drop-in's
  // memory flags and the config's max_branches carry this.
  const rows: string[] = [];
  for (let i = 1; i <= 20; i++) {
    const number = String(8200 + i);
    const r = await nodes.a.server!.api('POST', '/api/extensions', token, { number, digest_algorithms: ['MD5'] });
    assert.equal(r.status, 201, r.text);
    rows.push(`${number};[authentication username=${number} password=${r.json.password}]`);
  }
  await eventually('node B knows the extensions', async () => (await nodes.b.server!.api('GET', '/api/extensions/8220', token)).status === 200);
  // SIPp is one source address, which pike (PIKE_REQUESTS per two seconds) would stop: this
  // edge, the same config otherwise, lets it through, as bench/sip.sh does.
  const burstEdge = await Kamailio.start([`sip:127.0.0.1:${nodes.a.sipPort}`, `sip:127.0.0.1:${nodes.b.sipPort}`], { PIKE_REQUESTS: 1_000_000 });
  try {
    const localPort = await freeSipPort();
    const run = await sipp({
      scenario: 'register.xml',
      rows: rows.map((r) => `${r};${localPort};600`),
      localPort,
      server: { host: '127.0.0.1', port: burstEdge.port },
      calls: 2400,
      rate: 800,
      timeoutSeconds: 30,
      dir: tempDir(),
    });
    assert.doesNotMatch(burstEdge.log, /could not allocate shared memory|short of cell shmem|cannot allocate shmem/, 'the edge had shared memory for every transaction');
    assert.equal(run.failed, 0, run.output.slice(-2000));
    assert.equal(run.successful, 2400);
  } finally {
    await burstEdge.stop();
  }
});

test('node A is killed (-9): within 10 s its phones are called through node B without registering again; node A comes back and takes phones again', async () => {
  const where = await registeredOn();
  const onA = [...where].filter(([, node]) => node === 'a').map(([n]) => n);
  const callers = [...where].filter(([, node]) => node === 'b').map(([n]) => n);
  const registersBefore = [...phones.values()].map((p) => p.sentRequests('REGISTER'));
  await nodes.a.server!.kill9();
  const killedAt = Date.now();
  const callee = phones.get(onA[0]!)!;
  const heard = answering(callee);
  let call;
  for (;;) {
    call = await phones.get(callers[0]!)!.invite(callee.user, SDP(9000));
    if (call.status === 200 || Date.now() - killedAt > 10_000) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.equal(call.status, 200, `a call to ${callee.user} (registered through A) after A died: ${call.status}`);
  assert.ok(Date.now() - killedAt <= 10_000, `within 10 s: ${Date.now() - killedAt} ms`);
  assert.equal(heard.invites, 1);
  assert.equal((await phones.get(callers[0]!)!.bye(call)).status, 200);
  // A caller whose calls node A handled: the edge sends them to node B now.
  if (onA[1]) {
    const other = phones.get(onA[1])!;
    const c2 = await other.invite(callee.user, SDP(9002));
    assert.equal(c2.status, 200, 'a phone that registered through A calls through B');
    assert.equal((await other.bye(c2)).status, 200);
    assert.equal(heard.invites, 2);
  }
  assert.deepEqual([...phones.values()].map((p) => p.sentRequests('REGISTER')), registersBefore, 'no phone registered again');

  // Node A comes back: the edge probes it and sends it its phones' requests again.
  nodes.a.server = await RunningServer.start(nodes.a.file, nodes.a.port);
  const back = phones.get(onA[0]!)!;
  await eventually('a REGISTER reaches node A again', async () => {
    await back.register({ expires: 600 });
    return (await registeredOn()).get(back.user) === 'a';
  });
});
