// The storage-facing services, run the same way on SQLite and on PostgreSQL (a throwaway
// cluster): extensions, devices, tokens, admin lockout, the request log and its pruning,
// CDRs, registrations, and the signal that another process changed something.
import { test, after, before } from 'node:test';
import { CompiledQuery } from 'kysely';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import pino from 'pino';
import { openDatabase } from '../../src/storage/database.ts';
import { WriteBehind } from '../../src/storage/write-behind.ts';
import { ExternalChanges } from '../../src/storage/external-changes.ts';
import { SecretBox } from '../../src/security/secret-box.ts';
import { ExtensionService } from '../../src/pbx/extensions.ts';
import { DeviceService } from '../../src/provisioning/devices.ts';
import { VendorRegistry } from '../../src/provisioning/vendors/index.ts';
import { TokenStore } from '../../src/accounts/tokens.ts';
import { AdminStore, MAX_FAILED_LOGINS } from '../../src/accounts/admins.ts';
import { RequestLog } from '../../src/provisioning/request-log.ts';
import { Calls } from '../../src/pbx/calls.ts';
import { Location, type Binding } from '../../src/pbx/location.ts';
import { PbxError } from '../../src/pbx/errors.ts';
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { tempDir } from '../helpers/server.ts';

let pgs: TestPostgres;
before(async () => {
  pgs = await startPostgres();
});
after(async () => {
  await pgs?.stop();
});

type Cfg = Parameters<typeof openDatabase>[0];
const dialects: [string, () => Promise<Cfg>][] = [
  ['SQLite', async () => ({ type: 'sqlite', path: join(tempDir(), 'pbx.db'), url: '' })],
  ['PostgreSQL', async () => ({ type: 'postgresql', path: '', url: await pgs.createDatabase(`pbx_${Math.random().toString(36).slice(2, 8)}`) })],
];

/** Flushes until `done` holds of what `read` finds (the database is back and has taken the kept writes), 15 s at most. */
async function flushUntil(wb: WriteBehind, read: () => Promise<string[]>, done: (rows: string[]) => boolean): Promise<string[]> {
  const deadline = Date.now() + 15_000;
  let seen: string[] = [];
  while (Date.now() < deadline) {
    await wb.flush();
    seen = await read();
    if (done(seen)) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  return seen;
}

function binding(aor: string, contact: string, expiresIn: number): Binding {
  const now = Date.now();
  return {
    aor, contact, contactParams: '', expiresAt: now + expiresIn, transport: 'udp', sourceAddress: '127.0.0.1', sourcePort: 5070,
    flowId: 'udp:127.0.0.1:5070', userAgent: 'test', callId: `c-${contact}`, cseq: 2 ** 31 - 1, q: null, instance: null, regId: null,
    path: null, registeredAt: now, behindNat: false,
  };
}

for (const [name, config] of dialects) {
  test(`${name}: services read back what they wrote, with the same types`, async () => {
    const cfg = await config();
    const database = await openDatabase(cfg);
    const db = database.db;
    const box = SecretBox.fromKeyFile(join(tempDir(), 'secret.key'));
    const errors: Error[] = [];
    // As the server runs it: on SQLite, statement writes (bindings, dialogs, CDRs) go to the writer thread.
    const wb = new WriteBehind(db, 20, (e) => errors.push(e), database.writeOffThread);
    try {
      const extensions = new ExtensionService(db, box);
      const devices = new DeviceService(db, new VendorRegistry(), extensions, wb, box);
      const { password } = await extensions.create({ number: '7401', name: 'One' });
      await extensions.create({ number: '7402', enabled: false, digest_algorithms: ['MD5'] });
      await devices.create({ mac_address: '00:15:65:00:74:01', vendor: 'yealink', model: 'T46S', lines: ['7401', '7402'], overrides: { 'a.b': 'c' } });
      await devices.update('001565007401', { label: 'desk', lines: ['7402'] });
      const fetchedAt = new Date().toISOString();
      devices.recordFetch('001565007401', { ip: '192.0.2.1', userAgent: 'ua', servedUrl: 'http://x/', at: fetchedAt, port: 8080, legacy: true, accountHash: 'h' });
      await wb.flush();
      await assert.rejects(extensions.delete('7402'), (e: PbxError) => e.kind === 'conflict');

      const ext2 = new ExtensionService(db, box);
      await ext2.load();
      assert.equal(ext2.get('7401')?.secret, password);
      assert.equal(ext2.get('7401')?.enabled, true);
      assert.equal(ext2.get('7402')?.enabled, false);
      assert.deepEqual(ext2.get('7402')?.digestAlgorithms, ['MD5']);
      const dev2 = new DeviceService(db, new VendorRegistry(), ext2, wb, box);
      await dev2.load();
      const d = dev2.get('001565007401')!;
      assert.deepEqual([d.label, d.lines, d.overrides, d.lastIp, d.lastFetchPort, d.lastFetchLegacy], ['desk', ['7402'], { 'a.b': 'c' }, '192.0.2.1', 8080, true]);
      // Every fetch column, each in its place (the UPDATE is compiled once, its values given in order).
      assert.deepEqual([d.lastProvisioned, d.lastUserAgent, d.lastServedUrl, d.lastFetchHash], [fetchedAt, 'ua', 'http://x/', 'h']);
      // Another process inserted the same key after our in-memory check: a conflict, not a crash.
      const stale = new ExtensionService(db, box);
      await assert.rejects(stale.create({ number: '7401' }), (e: PbxError) => e.kind === 'conflict' && e.field === 'number');
      const staleDevices = new DeviceService(db, new VendorRegistry(), ext2, wb, box);
      await assert.rejects(
        staleDevices.create({ mac_address: '001565007401', vendor: 'yealink', model: 'T46S', extension_number: '7401' }),
        (e: PbxError) => e.kind === 'conflict' && e.field === 'mac_address',
      );
      await devices.delete('001565007401');
      await extensions.delete('7402');

      // Tokens: numeric ids, revocation once.
      const tokens = new TokenStore(db);
      const t = await tokens.create('ci');
      assert.equal(typeof t.info.id, 'number');
      assert.deepEqual(await tokens.verify(t.token), { id: t.info.id, role: 'admin' });
      await tokens.revoke(t.info.id);
      await assert.rejects(tokens.revoke(t.info.id), (e: PbxError) => e.kind === 'not_found');
      assert.equal(await tokens.verify(t.token), undefined);
      assert.equal((await tokens.list())[0]!.id, t.info.id);

      // Admins: lockout after repeated failures.
      const admins = new AdminStore(db, tokens);
      const pw = await admins.create('ops', 'read-only');
      await assert.rejects(admins.create('ops', 'admin'), (e: PbxError) => e.kind === 'conflict');
      assert.equal((await admins.login('ops', pw)).ok, true);
      for (let i = 0; i < MAX_FAILED_LOGINS - 1; i++) assert.deepEqual(await admins.login('ops', 'nope-nope-nope'), { ok: false, reason: 'invalid' });
      assert.equal((await admins.login('ops', 'nope-nope-nope')).ok, false);
      const locked = await admins.login('ops', pw);
      assert.equal(locked.ok === false && locked.reason, 'locked');

      // The request log is pruned to its maximum; ids and counts are numbers.
      const log = new RequestLog(db, wb, () => 100);
      for (let i = 0; i < 260; i++) {
        log.add({ at: new Date().toISOString(), ip: '192.0.2.9', method: 'GET', path: `/provision/${i}.cfg`, mac: null, user_agent: null, status: 404, outcome: 'unknown_file', vendor: null, model: null, detail: null });
        if (i % 100 === 99) await wb.flush();
      }
      await wb.flush();
      await wb.flush();
      const count = await log.count();
      assert.equal(typeof count, 'number');
      assert.ok(count <= 160 && count >= 100, `pruned to about 100 rows (${count})`);
      const newest = await log.list({ limit: 1 });
      assert.equal(typeof newest[0]!.id, 'number');
      assert.equal(newest[0]!.path, '/provision/259.cfg');

      // CDRs, written behind, filtered.
      const calls = new Calls(db, wb, pino({ level: 'silent' }));
      calls.end(calls.start('cid-1', 't1', '7401', '7403'), 'busy', 486, 'callee');
      const c2 = calls.start('cid-2', 't2', '7403', '7404');
      calls.answered(c2);
      calls.end(c2, 'answered', 200, 'caller');
      const cdr = await calls.cdr({ extension: '7401' });
      assert.deepEqual(cdr.map((r) => [typeof r.id, r.call_id, r.result, r.status, r.duration_seconds]), [['number', 'cid-1', 'busy', 486, 0]]);
      assert.equal((await calls.cdr({ result: 'answered' }))[0]!.call_id, 'cid-2');

      // Registrations: written behind (SQLite: on the writer thread), reloaded (expired
      // ones dropped), CSeq up to 2^31-1, every column as written.
      const location = new Location(db, wb, 'pbx1', database);
      const live = binding('7401', 'sip:7401@127.0.0.1:5070', 60_000);
      location.replace('7401', [live, binding('7401', 'sip:7401@127.0.0.1:5071', 60_000)], []);
      location.replace('7401', [live], []);
      location.replace('7403', [binding('7403', 'sip:7403@127.0.0.1:5072', 300)], []);
      await wb.flush();
      await new Promise((r) => setTimeout(r, 350));
      const reloaded = new Location(db, wb, 'pbx1', database);
      await reloaded.load();
      assert.deepEqual(reloaded.all().map((b) => [b.aor, b.contact, b.cseq, b.sourcePort, b.behindNat]), [['7401', live.contact, 2 ** 31 - 1, 5070, false]]);
      assert.deepEqual(reloaded.all()[0], live);
      assert.deepEqual(errors, []);
    } finally {
      await wb.flush();
      await database.close();
    }
  });

  test(`${name}: a change committed by another connection is signalled, our own are not`, async () => {
    const cfg = await config();
    const mine = await openDatabase(cfg);
    const other = await openDatabase(cfg);
    let reloads = 0;
    const watcher = new ExternalChanges(mine, async () => void reloads++, { minIntervalMs: 50 });
    const box = SecretBox.fromKeyFile(join(tempDir(), 'secret.key'));
    const wait = async (ms: number) => new Promise((r) => setTimeout(r, ms));
    try {
      await wait(500); // PostgreSQL: LISTEN took effect, and signalled once for what it may have missed
      const atStart = reloads;
      assert.ok(atStart <= 1);
      const extensions = new ExtensionService(mine.db, box);
      await extensions.create({ number: '7501' });
      await wait(1500);
      assert.equal(reloads, atStart, 'our own write is known already');
      // What the server writes all the time: bindings (SQLite: on its writer thread, a
      // connection of its own) and each device's fetch and window state.
      const wb = new WriteBehind(mine.db, 20, (e) => assert.fail(e), mine.writeOffThread);
      const location = new Location(mine.db, wb, 'pbx1');
      const devices = new DeviceService(mine.db, new VendorRegistry(), extensions, wb, box);
      await devices.create({ mac_address: '001565007501', vendor: 'yealink', model: 'T46S', lines: ['7501'] });
      await wait(1500);
      const busyFrom = reloads;
      for (let i = 0; i < 20; i++) {
        location.replace('7501', [binding('7501', `sip:7501@127.0.0.1:${5100 + i}`, 60_000)], []);
        devices.recordFetch('001565007501', { ip: '127.0.0.1', userAgent: 'Yealink', servedUrl: 'http://x/', at: new Date().toISOString(), port: 8080, legacy: false, accountHash: null });
        devices.recordAuthenticated('001565007501');
        await wb.flush();
        await wait(100);
      }
      await wait(1200);
      assert.equal(reloads, busyFrom, 'bindings and fetch state written here are not another process\'s changes');
      // Our own admin writes in the same second as the writer's commits (a busy server being
      // edited): still ours. A reload here dropped every rendered phone file in a boot storm.
      for (let i = 0; i < 6; i++) {
        location.replace('7501', [binding('7501', `sip:7501@127.0.0.1:${5200 + i}`, 60_000)], []);
        await wb.flush();
        await extensions.update('7501', { name: `Busy ${i}` });
        await wait(300);
      }
      await wait(1200);
      assert.equal(reloads, busyFrom, 'our own changes made while the writer thread commits are not another process\'s');
      await new ExtensionService(other.db, box).create({ number: '7502' });
      const deadline = Date.now() + 5000;
      while (reloads === atStart && Date.now() < deadline) await wait(50);
      assert.equal(reloads, atStart + 1);
    } finally {
      watcher.stop();
      await mine.close();
      await other.close();
    }
  });
}

test('PostgreSQL: a node hears which AORs another node changed and reloads those bindings only', async () => {
  const cfg = await dialects[1]![1]();
  const a = await openDatabase(cfg);
  const b = await openDatabase(cfg);
  const wbA = new WriteBehind(a.db, 20, (e) => assert.fail(e));
  const wbB = new WriteBehind(b.db, 20, (e) => assert.fail(e));
  const nodeA = new Location(a.db, wbA, 'a', a);
  const nodeB = new Location(b.db, wbB, 'b', b);
  const heard: (string[] | 'all')[] = [];
  const watcher = new ExternalChanges(b, async (changes) => {
    if (!changes.has('registrations')) return;
    const keys = changes.keys('registrations');
    heard.push(keys ? [...keys].sort() : 'all');
    await nodeB.loadOtherNodes(keys);
  }, { minIntervalMs: 20 });
  const wait = async (ms: number) => new Promise((r) => setTimeout(r, ms));
  const until = async (what: string, ok: () => boolean) => {
    const deadline = Date.now() + 5000;
    while (!ok()) {
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}; heard ${JSON.stringify(heard)}`);
      await wait(20);
    }
  };
  const viaEdge = (aor: string, contact: string) => ({ ...binding(aor, contact, 60_000), path: ['<sip:edge.example;lr>'] });
  try {
    await nodeA.load();
    await nodeB.load();
    await until('the first LISTEN', () => heard.includes('all'));
    heard.length = 0;
    // 1200 AORs in one batch: more than one statement chunk and one notification's payload.
    const many = Array.from({ length: 1200 }, (_, i) => `9${String(i).padStart(5, '0')}`);
    for (const aor of many) nodeA.replace(aor, [viaEdge(aor, `sip:${aor}@10.0.0.1`)], []);
    await wbA.flush();
    await until('the batch at node b', () => many.every((aor) => nodeB.isRegistered(aor)));
    assert.ok(!heard.includes('all'), 'keyed notifications, not the whole table');
    assert.deepEqual([...new Set(heard.flat())].sort(), many);
    assert.equal(nodeB.lookup('900001')[0]?.contact, 'sip:900001@10.0.0.1');
    // One AOR changes and another is unregistered: node b hears just those two.
    heard.length = 0;
    nodeA.replace('900002', [viaEdge('900002', 'sip:900002@10.0.0.2')], []);
    nodeA.replace('900003', [], []);
    await wbA.flush();
    await until('the change at node b', () => !nodeB.isRegistered('900003'));
    assert.deepEqual(heard, [['900002', '900003']]);
    assert.equal(nodeB.lookup('900002')[0]?.contact, 'sip:900002@10.0.0.2');
    assert.ok(nodeB.isRegistered('900004'), 'the AORs not named stay as they were');
    // Node b's own writes are not announced back to itself, and node a learns nothing from
    // a binding without a Path (it cannot reach that phone).
    nodeB.replace('900003', [binding('900003', 'sip:900003@10.0.0.3', 60_000)], []);
    await wbB.flush();
    await wait(200);
    assert.deepEqual(heard, [['900002', '900003']]);
    await nodeA.loadOtherNodes(['900003']);
    assert.equal(nodeA.isRegistered('900003'), false);
  } finally {
    watcher.stop();
    await wbA.flush();
    await wbB.flush();
    await a.close();
    await b.close();
  }
});

test('PostgreSQL: a reload racing this process\'s own writes keeps them (a created, a deleted extension; a new device; a device\'s closed window)', async () => {
  const database = await openDatabase({ type: 'postgresql', path: '', url: await pgs.createDatabase('pbx_reload_race') });
  const db = database.db;
  const box = SecretBox.fromKeyFile(join(tempDir(), 'secret.key'));
  const wb = new WriteBehind(db, 20, (e) => assert.fail(e));
  try {
    // Enough rows that the reload's read is still running when the writes below commit.
    const now = new Date().toISOString();
    const sealed = box.seal('a-long-enough-secret-1');
    for (let start = 0; start < 20_000; start += 2_000) {
      const rows = Array.from({ length: 2_000 }, (_, i) => ({ number: String(100_000 + start + i), name: 'x', secret_enc: sealed, enabled: 1, created_at: now, updated_at: now }));
      await db.insertInto('extensions').values(rows).execute();
    }
    const extensions = new ExtensionService(db, box);
    const devices = new DeviceService(db, new VendorRegistry(), extensions, wb, box);
    await extensions.load();
    await extensions.create({ number: '7501' });
    await devices.load();
    const mac = '001565007501';
    await devices.create({ mac_address: mac, vendor: 'yealink', model: 'T46S', lines: ['7501'] });
    assert.ok(devices.get(mac)?.windowOpenedAt, 'a new device has its first-fetch window open');

    const extensionsReload = extensions.load();
    await extensions.create({ number: '7502' });
    await extensions.delete('100000');
    await extensionsReload;
    assert.ok(extensions.get('7502'), 'the extension created during the reload is kept');
    assert.equal(extensions.get('100000'), undefined, 'the extension deleted during the reload stays deleted');
    assert.equal(extensions.count, 20_001);

    const devicesReload = devices.load();
    await devices.create({ mac_address: '001565007502', vendor: 'yealink', model: 'T46S', lines: ['7502'] });
    devices.recordAuthenticated(mac);
    await devicesReload;
    assert.ok(devices.get('001565007502'), 'the device created during the reload is served');
    assert.equal(devices.get(mac)?.windowOpenedAt, null, 'the window closed during the reload stays closed');
    assert.ok(devices.get(mac)?.authenticatedAt);
    assert.deepEqual(devices.get(mac)?.lines, ['7501'], 'the rest of the device is the row as read');
  } finally {
    await wb.flush();
    await database.close();
  }
});

test('database descriptions never carry credentials; the unix-socket URL form works; a refused login is named', async () => {
  const { describePostgres } = await import('../../src/storage/database.ts');
  assert.equal(describePostgres('postgres://pbx:s3cret@db.example:5433/pbx?sslmode=require'), 'postgresql://db.example:5433/pbx');
  assert.equal(describePostgres('postgresql://pbx@/pbx?host=/var/run/postgresql'), 'postgresql://unix:/var/run/postgresql/pbx');
  assert.equal(describePostgres('postgres:///pbx'), 'postgresql://localhost/pbx');
  // The local-socket form of docs/INSTALL.md opens (socket logins are trusted in the test cluster).
  await pgs.createDatabase('pbx_socket');
  const viaSocket = await openDatabase({ type: 'postgresql', path: '', url: `postgres://pbx_socket@/pbx_socket?host=${pgs.socketDir}&port=${pgs.port}` });
  assert.equal(viaSocket.describe, `postgresql://unix:${pgs.socketDir}/pbx_socket`);
  assert.deepEqual(await viaSocket.db.selectFrom('extensions').selectAll().execute(), []);
  await viaSocket.close();
  // A wrong password is named as such, without the password.
  const wrong = `postgres://pbx_socket:not-the-password@127.0.0.1:${pgs.port}/pbx_socket`;
  await assert.rejects(openDatabase({ type: 'postgresql', path: '', url: wrong }), (e: Error) => {
    assert.match(e.message, new RegExp(`^Cannot open the database postgresql://127\\.0\\.0\\.1:${pgs.port}/pbx_socket: password authentication failed`));
    assert.ok(!e.message.includes('not-the-password'));
    return true;
  });
});

test('PostgreSQL: writes deferred while the database is down are kept and written once it is back; a newer write of a key wins', async () => {
  const cfg = await dialects[1]![1]();
  // As the server opens it: an idle connection the stopping database cuts is reported, not thrown.
  const problems: string[] = [];
  const database = await openDatabase(cfg, { onError: (err) => problems.push(err.message) });
  await database.db.executeQuery(CompiledQuery.raw('CREATE TABLE wb_probe (k text PRIMARY KEY, v text NOT NULL)'));
  const errors: Error[] = [];
  const told: [string | null, number][] = [];
  const wb = new WriteBehind(database.db, 20, (e) => errors.push(e));
  wb.onUnreachable = (err, held) => told.push([err ? err.message : null, held]);
  const upsert = (k: string, v: string) => wb.put(k, (trx) => trx.executeQuery(CompiledQuery.raw('INSERT INTO wb_probe (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v', [k, v])));
  const rows = async () => (await pgs.query<{ k: string; v: string }>('SELECT k, v FROM wb_probe ORDER BY k', [], new URL(cfg.url).pathname.slice(1))).map((r) => `${r.k}=${r.v}`);
  try {
    upsert('a', 'before');
    await wb.flush();
    assert.deepEqual(await rows(), ['a=before']);

    pgs.pause();
    upsert('a', 'old');
    upsert('b', 'while down');
    await wb.flush();
    assert.equal(errors.length, 0, `no write given up: ${errors.map((e) => e.message).join('; ')}`);
    assert.ok(told.length >= 1 && told[0]![0] !== null && told[0]![1] === 2, `told the two writes are kept: ${JSON.stringify(told)}`);
    upsert('a', 'newer'); // made while the kept batch waits: it must win
    pgs.resume();
    const seen = await flushUntil(wb, rows, (r) => r.length === 2 && told.at(-1)?.[0] === null);
    assert.deepEqual(seen, ['a=newer', 'b=while down']);
    assert.deepEqual(told.at(-1), [null, 0], 'told the database is back');
    assert.equal(told.length, 2, `told once when it went and once when it came back: ${JSON.stringify(told)}`);
    assert.equal(errors.length, 0);

    // A write the database refuses (not unreachable) is not kept: reported, and the next ones go on.
    wb.put('bad', (trx) => trx.executeQuery(CompiledQuery.raw('INSERT INTO wb_probe (k, v) VALUES ($1, NULL)', ['c'])));
    await wb.flush();
    assert.equal(errors.length, 1);
    upsert('d', 'after');
    await wb.flush();
    assert.deepEqual(await rows(), ['a=newer', 'b=while down', 'd=after']);
  } finally {
    await database.close();
  }
});

test('PostgreSQL: request-log rows and CDRs a batch took while the database was down are written once it is back', async () => {
  const cfg = await dialects[1]![1]();
  const database = await openDatabase(cfg, { onError: () => {} });
  const errors: Error[] = [];
  const wb = new WriteBehind(database.db, 20, (e) => errors.push(e));
  // Its batch builder takes the pending rows as it builds: a retry must not build them again from nothing.
  const log = new RequestLog(database.db, wb, () => 10_000);
  const calls = new Calls(database.db, wb, pino({ level: 'silent' }));
  const add = (n: number) => log.add({ at: new Date(Date.UTC(2026, 11, 6, 12, 0, n)).toISOString(), ip: '10.0.0.9', method: 'GET', path: `/provision/${n}.cfg`, mac: null, user_agent: null, status: 404, outcome: 'unknown_device', vendor: null, model: null, detail: null });
  const paths = async () => (await pgs.query<{ path: string }>('SELECT path FROM provisioning_requests ORDER BY path', [], new URL(cfg.url).pathname.slice(1))).map((r) => r.path);
  try {
    add(1);
    await wb.flush();
    assert.deepEqual(await paths(), ['/provision/1.cfg']);
    pgs.pause();
    add(2);
    add(3);
    calls.end(calls.start('cid-down', 't1', '7401', '7403'), 'busy', 486, 'callee');
    await wb.flush(); // finds the database down: the batch is kept
    add(4);
    pgs.resume();
    const seen = await flushUntil(wb, paths, (r) => r.length >= 4);
    assert.deepEqual(seen, ['/provision/1.cfg', '/provision/2.cfg', '/provision/3.cfg', '/provision/4.cfg']);
    assert.deepEqual((await calls.cdr({})).map((r) => r.call_id), ['cid-down']);
    assert.equal(errors.length, 0, errors.map((e) => e.message).join('; '));
  } finally {
    await database.close();
  }
});
