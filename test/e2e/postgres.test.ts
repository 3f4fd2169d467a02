// database.type: postgresql for real: a throwaway PostgreSQL cluster (test/helpers/postgres.ts),
// the migrations on an empty database (the same schema as SQLite's), the real pbx process
// serving the API, a phone's file and SIP on it, a restart, and two pbx nodes on one
// database that see each other's (and the CLI's) changes without a restart.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'kysely';
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { createToken, freePort, freeSipPort, runCli, RunningServer, tempDir, writeConfig } from '../helpers/server.ts';
import { getFrom, getWithDigest } from '../helpers/http-digest.ts';
import { TestUa } from '../helpers/sip-client.ts';

let pgs: TestPostgres;
const servers: RunningServer[] = [];

before(async () => {
  pgs = await startPostgres();
});
after(async () => {
  for (const s of servers) await s.stop();
  await pgs?.stop();
});

async function node(url: string, dir = tempDir()) {
  const port = await freePort();
  const sipPort = await freeSipPort();
  const file = writeConfig(dir, { port, sipPort, postgresUrl: url, logLevel: 'info', extra: 'voicemail:\n  enabled: false\n' });
  return { dir, file, port, sipPort };
}

async function start(n: { file: string; port: number }) {
  const s = await RunningServer.start(n.file, n.port);
  servers.push(s);
  return s;
}

/** Polls until `check` holds (another node learns of a change asynchronously). */
async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('migrations on an empty PostgreSQL database (three nodes at once) give the same tables and columns as SQLite, once', async () => {
  const { openDatabase } = await import('../../src/storage/database.ts');
  const url = await pgs.createDatabase('pbx_migrate');
  // Nodes starting together: the migrator's lock lets one migrate while the others wait.
  const together = await Promise.all([1, 2, 3].map(() => openDatabase({ type: 'postgresql', url, path: '' })));
  for (const d of together) await d.close();
  const again = await openDatabase({ type: 'postgresql', url, path: '' });
  await again.close();
  const dir = tempDir();
  const lite = await openDatabase({ type: 'sqlite', url: '', path: join(dir, 'pbx.db') });

  const pgCols = await pgs.query<{ table_name: string; column_name: string }>(
    "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, column_name",
    [],
    'pbx_migrate',
  );
  const pgSchema = pgCols.map((c) => `${c.table_name}.${c.column_name}`);
  const tables = await lite.db.selectFrom('sqlite_master' as never).select('name' as never).where('type' as never, '=', 'table' as never).execute();
  const liteSchema: string[] = [];
  for (const { name } of tables as { name: string }[]) {
    // pbx_change_counter: SQLite's change signal (PostgreSQL has LISTEN/NOTIFY).
    if (name.startsWith('sqlite_') || name === 'pbx_change_counter') continue;
    const cols = await sql<{ name: string }>`SELECT name FROM pragma_table_info(${name})`.execute(lite.db);
    for (const c of cols.rows) liteSchema.push(`${name}.${c.name}`);
  }
  assert.deepEqual(pgSchema, liteSchema.sort());
  assert.ok(pgSchema.includes('devices.prov_secret_enc'));

  const applied = await pgs.query<{ name: string }>('SELECT name FROM kysely_migration ORDER BY name', [], 'pbx_migrate');
  const liteApplied = await lite.db.selectFrom('kysely_migration' as never).select('name' as never).orderBy('name' as never).execute();
  assert.deepEqual(applied.map((r) => r.name), (liteApplied as { name: string }[]).map((r) => r.name), 'every migration ran once on each');
  assert.ok(applied.some((r) => r.name.startsWith('0008_')));
  await lite.close();

  // The growing tables have 64-bit ids; the mirrored tables notify other nodes.
  const ids = await pgs.query<{ table_name: string; data_type: string }>(
    "SELECT table_name, data_type FROM information_schema.columns WHERE column_name = 'id' AND table_name IN ('cdr', 'provisioning_requests')",
    [],
    'pbx_migrate',
  );
  assert.deepEqual(ids.map((r) => r.data_type), ['bigint', 'bigint']);
  const triggers = await pgs.query<{ tgname: string }>("SELECT tgname FROM pg_trigger WHERE tgname LIKE '%notify_change' ORDER BY tgname", [], 'pbx_migrate');
  // Registrations are announced by AOR by the node that wrote them (pbx/location.ts), not by a trigger.
  assert.deepEqual(triggers.map((t) => t.tgname), ['device_lines_notify_change', 'devices_notify_change', 'extensions_notify_change', 'trunks_notify_change']);
});

test('one pbx on PostgreSQL: API, a phone file over HTTP, SIP registration, CDR, request log; all persist across a restart', async () => {
  const url = await pgs.createDatabase('pbx_one');
  const n = await node(url);
  // The first-fetch window is open to 127.0.0.1 only, so 127.0.0.9 plays a phone that must authenticate.
  writeFileSync(n.file, readFileSync(n.file, 'utf8').replace('provisioning:\n', 'provisioning:\n  auth:\n    first_fetch_networks: [127.0.0.1/32]\n'));
  const token = await createToken(n.file);
  let server = await start(n);
  assert.match(server.log, new RegExp(`Database: postgresql://127\\.0\\.0\\.1:${pgs.port}/pbx_one`));
  assert.ok(!(await server.settledLog()).includes(new URL(url).password), 'the database password is not logged');

  const e1 = await server.api('POST', '/api/extensions', token, { number: '7101', name: 'Front desk' });
  assert.equal(e1.status, 201, e1.text);
  const e2 = await server.api('POST', '/api/extensions', token, { number: '7102' });
  assert.equal(e2.status, 201);
  assert.equal((await server.api('POST', '/api/extensions', token, { number: '7101' })).status, 409, 'a duplicate is a conflict');
  const mac = '001565a0b0c1';
  const ua = 'Yealink SIP-T46S 66.86.0.15 00:15:65:a0:b0:c1';
  const dev = await server.api('POST', '/api/provisioning/devices', token, { mac_address: mac, extension_number: '7101', vendor: 'yealink', model: 'T46S' });
  assert.equal(dev.status, 201, dev.text);
  const cred = { user: dev.json.provisioning_username, password: dev.json.provisioning_password };

  // The first fetch, inside the window opened when the device was added (from 127.0.0.0/8).
  const first = await getFrom({ port: n.port, path: `/provision/${mac}.cfg`, headers: { 'user-agent': ua } });
  assert.equal(first.status, 200);
  assert.match(first.body, new RegExp(`account\\.1\\.password = ${e1.json.password}`));
  const elsewhere = { port: n.port, path: `/provision/${mac}.cfg`, headers: { 'user-agent': ua }, localAddress: '127.0.0.9' };
  assert.equal((await getFrom(elsewhere)).status, 401, 'outside the window the credential is needed');
  const authed = await getWithDigest(elsewhere, cred);
  assert.equal(authed.status, 200);
  await eventually('the window closes once the phone authenticated', async () => (await getFrom({ port: n.port, path: `/provision/${mac}.cfg` })).status === 401);

  const phone = await new TestUa({ host: '127.0.0.1', port: n.sipPort }, '7101', e1.json.password).open();
  const caller = await new TestUa({ host: '127.0.0.1', port: n.sipPort }, '7102', e2.json.password).open();
  try {
    assert.equal((await phone.register({ expires: 600 })).reply.status, 200);
    const regs = await server.api('GET', '/api/registrations', token);
    assert.deepEqual(regs.json.registrations.map((r: { extension: string }) => r.extension), ['7101']);
    // A call the phone refuses: one CDR row.
    phone.onRequest = (req) => (req.method === 'INVITE' ? { status: 486, reason: 'Busy Here' } : { status: 200, reason: 'OK' });
    const base = { uri: 'sip:7101@127.0.0.1', to: '<sip:7101@127.0.0.1>', from: '<sip:7102@127.0.0.1>;tag=pgcall', callId: 'pg-call-1' };
    const challenge = await caller.request('INVITE', base);
    assert.equal(challenge.status, 407);
    const auth = caller.authorize('INVITE', base.uri, challenge, 'proxy-authenticate');
    assert.equal((await caller.request('INVITE', { ...base, headers: [`Proxy-Authorization: ${auth}`] })).status, 486);
  } finally {
    phone.close();
    caller.close();
  }
  const cdr = await server.api('GET', '/api/cdr', token);
  assert.equal(cdr.json.cdr.length, 1);
  assert.equal(cdr.json.cdr[0].result, 'busy');
  assert.equal(typeof cdr.json.cdr[0].id, 'number', 'bigint ids come back as numbers');
  const requests = await server.api('GET', `/api/provisioning/requests?mac=${mac}`, token);
  assert.ok(requests.json.requests.length >= 3);
  assert.equal(typeof requests.json.requests[0].id, 'number');

  // Admin accounts (CLI) and login (API).
  const admin = await runCli(['admin', 'create', 'pgadmin', '--config', n.file]);
  assert.equal(admin.code, 0, admin.stderr);
  const login = await server.api('POST', '/api/auth/login', null, { username: 'pgadmin', password: admin.stdout.trim().split('\n').pop() });
  assert.equal(login.status, 200, login.text);
  assert.equal((await server.api('POST', '/api/auth/login', null, { username: 'pgadmin', password: 'wrong-password-1' })).status, 401);

  // Move api.port through the API: the old port is remembered (legacy_listeners) for phones.
  const newPort = await freePort();
  const moved = await server.api('PUT', '/api/config', token, { values: { 'api.port': newPort } });
  assert.equal(moved.status, 200, moved.text);
  await server.waitForLog(new RegExp(`API port: ${newPort} \\(moved from ${n.port}`), 10_000);

  await server.stop();
  const oldPort = n.port;
  n.port = newPort;
  server = await start(n);
  await server.waitForLog(new RegExp(`Provisioning also served on old port ${oldPort}`));
  assert.equal((await getFrom({ port: oldPort, path: `/provision/${mac}.cfg`, headers: { 'user-agent': ua } })).status, 401, 'the old port still serves phones after the restart');
  const exts = await server.api('GET', '/api/extensions', token);
  assert.deepEqual(exts.json.extensions.map((e: { number: string }) => e.number), ['7101', '7102']);
  const d = await server.api('GET', `/api/provisioning/devices/${mac}`, token);
  assert.equal(d.status, 200);
  assert.equal(d.json.last_ip, '127.0.0.9', 'fetch statistics written behind reached the database');
  const regs = await server.api('GET', '/api/registrations', token);
  assert.deepEqual(regs.json.registrations.map((r: { extension: string }) => r.extension), ['7101'], 'the binding survived the restart');
  assert.equal((await server.api('GET', '/api/cdr', token)).json.cdr.length, 1);
  assert.equal((await getFrom({ port: n.port, path: `/provision/${mac}.cfg`, headers: { 'user-agent': ua } })).status, 401, 'the window stayed closed');
  const again = await getWithDigest({ port: n.port, path: `/provision/${mac}.cfg`, headers: { 'user-agent': ua } }, cred);
  assert.equal(again.status, 200, 'the sealed credential opens after a restart');
  assert.match(again.body, new RegExp(`account\\.1\\.password = ${e1.json.password}`));
});

test('two pbx nodes on one database see extensions and devices created through the other, and by the CLI', async () => {
  const url = await pgs.createDatabase('pbx_two');
  const a = await node(url);
  const token = await createToken(a.file);
  const nodeA = await start(a);
  // Every node needs the same secret key: it seals the SIP secrets in the shared database.
  const dirB = tempDir();
  mkdirSync(join(dirB, 'data'));
  copyFileSync(join(a.dir, 'data', 'secret.key'), join(dirB, 'data', 'secret.key'));
  const b = await node(url, dirB);
  const nodeB = await start(b);

  const ext = await nodeA.api('POST', '/api/extensions', token, { number: '7201', name: 'Made on A' });
  assert.equal(ext.status, 201);
  await eventually('node B sees extension 7201', async () => (await nodeB.api('GET', '/api/extensions/7201', token)).status === 200);
  assert.equal((await nodeB.api('GET', '/api/extensions/7201', token)).json.name, 'Made on A');
  // A node with a key of its own cannot read the shared secrets, and says so.
  const stranger = await node(url);
  await assert.rejects(RunningServer.start(stranger.file, stranger.port), /sealed with another key than .*secret\.key: every server sharing this database needs a copy of the same security\.key_file/);

  const mac = '001565a0b0d2';
  const ua = 'Yealink SIP-T46S 66.86.0.15 00:15:65:a0:b0:d2';
  const dev = await nodeA.api('POST', '/api/provisioning/devices', token, { mac_address: mac, extension_number: '7201', vendor: 'yealink', model: 'T46S' });
  assert.equal(dev.status, 201, dev.text);
  await eventually('node B knows the device', async () => (await nodeB.api('GET', `/api/provisioning/devices/${mac}`, token)).status === 200);
  const cred = { user: dev.json.provisioning_username, password: dev.json.provisioning_password };
  const file = await getWithDigest({ port: b.port, path: `/provision/${mac}.cfg`, headers: { 'user-agent': ua } }, cred);
  assert.equal(file.status, 200, 'node B serves the phone its file');
  assert.match(file.body, new RegExp(`account\\.1\\.password = ${ext.json.password}`));
  // The phone registers on node B with the secret made on node A.
  const phone = await new TestUa({ host: '127.0.0.1', port: b.sipPort }, '7201', ext.json.password).open();
  try {
    assert.equal((await phone.register()).reply.status, 200);
  } finally {
    phone.close();
  }

  // Changes go both ways, and the CLI is a writer like any other.
  assert.equal((await nodeB.api('PUT', '/api/extensions/7201', token, { name: 'Renamed on B' })).status, 200);
  await eventually('node A sees the rename', async () => (await nodeA.api('GET', '/api/extensions/7201', token)).json.name === 'Renamed on B');
  const cli = await runCli(['ext', 'add', '7202', '--config', b.file]);
  assert.equal(cli.code, 0, cli.stderr);
  for (const s of [nodeA, nodeB]) await eventually('both nodes see 7202', async () => (await s.api('GET', '/api/extensions/7202', token)).status === 200);
  assert.equal((await nodeA.api('DELETE', '/api/extensions/7202', token)).status, 204);
  await eventually('node B sees the delete', async () => (await nodeB.api('GET', '/api/extensions/7202', token)).status === 404);

  // The database restarts (every connection cut): both nodes carry on, and node B listens again.
  pgs.restart();
  await eventually('node A writes again', async () => (await nodeA.api('POST', '/api/extensions', token, { number: '7203' })).status === 201);
  await eventually('node B sees 7203 after the restart', async () => (await nodeB.api('GET', '/api/extensions/7203', token)).status === 200);

  await nodeB.waitForLog(/Reloaded extensions, devices and trunks changed by another process/);
  const failed = ((await nodeA.settledLog()) + nodeB.log).split('\n').filter((l) => /Deferred database write failed|Reloading changes made by another process failed/.test(l));
  assert.deepEqual(failed, [], 'no write or reload failed');
  assert.ok(nodeB.child.exitCode === null && nodeA.child.exitCode === null, 'both nodes still run');
});
